"""When to check next: pure functions of a provider's pacing and the job's history, and the one
piece of state the policy keeps (`Planner`: durations of recent jobs, in this process only).

Delays here are in unscaled provider seconds; the courier multiplies by JOBCOURIER_DELAY_SCALE.
The policy, the per-provider values and the benchmark behind them: docs/scheduling.md.

In order of precedence, the next check of a running job comes
1. from the job's own progress (a provider that reports it): just after the completion the
   progress predicts, or halfway there while two rates of progress do not yet agree; when
   progress stalls or goes backwards, from backoff counted from the stall;
2. from the durations of recent jobs of the same provider (in-process memory, `Planner`): when
   half of the recent jobs still running at this point were done, but at most `max_lag_s` on;
   past every recent job, backoff growing with the time since the slowest was done;
3. from capped exponential backoff with jitter, as with no information at all.
The first check likewise: `first_check_s`, or from recent durations once known.
Whatever the source: never sooner than `min_interval_s`, never later than `max_interval_s`
(except a Retry-After or a rejected key, which wait longer), never more than 30 days ahead.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Protocol

from jobcourier.errors import ConfigurationError

MAX_SCHEDULE_AHEAD_S = 30 * 24 * 3600 - 3600  # Cloud Tasks refuses schedule_time > 30 days ahead
AUTH_FAULT_DELAY_S = 600.0  # a rejected key waits for an operator, not for the provider
MAX_DEADLINE_S = 30 * 24 * 3600.0  # the longest deadline a submission may ask for

MEMORY_MIN_SAMPLES = 4  # fewer finished jobs than this: the configured pacing alone
MEMORY_SAMPLES = 64  # finished jobs remembered per provider (the most recent)
MEMORY_JOBS = 4096  # running jobs whose last check this instance remembers
PROGRESS_AGREEMENT = 0.2  # two rates of progress this close (relative) confirm a prediction
EARLY_QUANTILE = 0.05  # "the earliest a job may be done": when 5 % of recent jobs were

Interval = tuple[float, float]  # a finished job's duration lies in (lo, hi] provider seconds


@dataclass(frozen=True)
class Pacing:
    """One provider's pacing; every field can be overridden with JOBCOURIER_PACING."""

    first_check_s: float  # from submission to the first check, while no durations are known
    min_interval_s: float  # never two checks of one job closer than this
    max_interval_s: float  # backoff cap, and the longest wait any estimate may ask for
    factor: float  # backoff growth per check
    jitter: float  # +/- fraction, spreads jobs submitted together
    default_deadline_s: float  # when the submission names none
    # Durations of recent jobs (in-process memory), where the instance has seen enough of them:
    learn: bool = True
    first_quantile: float = 0.9  # share of recent jobs the first check should find finished
    next_quantile: float = 0.5  # share of the still-running ones each later check should find
    # ... and with any estimate, no check more than this after the earliest the job may be done
    max_lag_s: float = 50.0
    # Progress the provider reports: check this fraction of the predicted duration after the
    # predicted completion (a little late beats an extra check a little early).
    use_progress: bool = True
    eta_margin: float = 0.02

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_field(f.name, getattr(self, f.name), "Pacing")
        if self.max_interval_s < self.min_interval_s:
            raise ConfigurationError(
                f"Pacing: max_interval_s ({self.max_interval_s}) must not be below "
                f"min_interval_s ({self.min_interval_s})"
            )


_FLOAT_RANGES: Mapping[str, tuple[float, float, str]] = MappingProxyType(
    {
        # field: (lowest, highest, what the message says)
        "first_check_s": (0.0, MAX_SCHEDULE_AHEAD_S, "between 0 and 30 days"),
        "min_interval_s": (1e-3, MAX_SCHEDULE_AHEAD_S, "above 0 and at most 30 days"),
        "max_interval_s": (1e-3, MAX_SCHEDULE_AHEAD_S, "above 0 and at most 30 days"),
        "factor": (1.0, 100.0, "between 1 and 100"),
        "jitter": (0.0, 0.5, "between 0 and 0.5"),
        "default_deadline_s": (1e-3, MAX_DEADLINE_S, "above 0 and at most 30 days"),
        "first_quantile": (0.01, 0.99, "between 0.01 and 0.99"),
        "next_quantile": (0.01, 0.99, "between 0.01 and 0.99"),
        "eta_margin": (0.0, 1.0, "between 0 and 1"),
        "max_lag_s": (1e-3, MAX_SCHEDULE_AHEAD_S, "above 0 and at most 30 days"),
    }
)
_BOOL_FIELDS = frozenset({"learn", "use_progress"})


def _check_field(name: str, value: Any, where: str) -> None:
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{where}: {name} must be true or false. Found: {value!r}")
        return
    low, high, words = _FLOAT_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{where}: {name} must be a number. Found: {value!r}")
    if not low <= value <= high:
        raise ConfigurationError(f"{where}: {name} must be {words}. Found: {value!r}")


def pacing_overrides(
    raw: str, providers: Collection[str] = (), *, source: str = "JOBCOURIER_PACING"
) -> Mapping[str, Mapping[str, float | bool]]:
    """Parse `{"fliki": {"first_check_s": 45, "max_interval_s": 600}, ...}`; empty: none.

    Checks the JSON, the provider names (when `providers` is given), the field names and each
    value's range; how fields relate (min <= max) is checked once applied (`Planner`)."""
    if not raw.strip():
        return MappingProxyType({})
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{source} must be JSON. Found invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{source} must be a JSON object of providers. Found: {type(data).__name__}"
        )
    known = sorted(_BOOL_FIELDS | set(_FLOAT_RANGES))
    parsed: dict[str, Mapping[str, float | bool]] = {}
    for provider, overrides in data.items():
        if providers and provider not in providers:
            raise ConfigurationError(
                f"{source}: unknown provider {provider!r}; expected one of {sorted(providers)}"
            )
        if not isinstance(overrides, dict):
            raise ConfigurationError(
                f"{source}: {provider} must map field names to values. Found: {overrides!r}"
            )
        for name, value in overrides.items():
            if name not in known:
                raise ConfigurationError(
                    f"{source}: unknown field {provider}.{name}; expected one of {known}"
                )
            _check_field(name, value, f"{source}: {provider}")
        parsed[provider] = MappingProxyType(
            {k: v if k in _BOOL_FIELDS else float(v) for k, v in overrides.items()}
        )
    return MappingProxyType(parsed)


def with_overrides(pacing: Pacing, overrides: Mapping[str, float | bool]) -> Pacing:
    # pacing_overrides() checked every name and type; mypy cannot see that through **.
    return replace(pacing, **overrides) if overrides else pacing  # type: ignore[arg-type]


@dataclass(frozen=True)
class History:
    """What the task carries about the job so far. Seconds are provider seconds (unscaled)."""

    checks: int  # status checks done, this one included
    elapsed_s: float  # since submission
    progress: tuple[tuple[float, float], ...] = ()  # (elapsed_s, fraction 0..1), oldest first
    previous_check_s: float | None = None  # elapsed_s of the check before this one, if any


# -- the pure policy --------------------------------------------------------------------------
def first_delay(
    pacing: Pacing,
    *,
    recent: Sequence[Interval] = (),
    rand: Callable[[], float] | None = None,
) -> float:
    """Seconds from submission to the first check: `first_check_s` while nothing is known;
    once recent jobs of this provider are, when most of them were done, but no later than
    `max_lag_s` after the earliest of them (never sooner than `min_interval_s`)."""
    if not (pacing.learn and len(recent) >= MEMORY_MIN_SAMPLES):
        return pacing.first_check_s
    learned = min(
        duration_quantile(recent, pacing.first_quantile),
        duration_quantile(recent, EARLY_QUANTILE) + pacing.max_lag_s,
    )
    if rand is not None:
        learned *= 1 + pacing.jitter * (2 * rand() - 1)
    return min(max(pacing.min_interval_s, learned), MAX_SCHEDULE_AHEAD_S)


def next_delay(
    pacing: Pacing,
    history: History,
    *,
    retry_after_s: float | None = None,
    auth_fault: bool = False,
    rand: Callable[[], float] = random.random,
    recent: Sequence[Interval] = (),
) -> float:
    """Seconds from this check to the next one of the same job (see the module docstring)."""
    delay = planned_delay(pacing, history, recent=recent, rand=rand)
    if delay is None:
        delay = backoff(pacing, history.checks, rand)
    if auth_fault:
        delay = max(delay, AUTH_FAULT_DELAY_S)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(max(delay, pacing.min_interval_s), MAX_SCHEDULE_AHEAD_S)


def backoff(pacing: Pacing, steps: int, rand: Callable[[], float]) -> float:
    """Capped exponential, jittered: min_interval_s x factor^(steps-1), at most max_interval_s."""
    base = pacing.min_interval_s * pacing.factor ** max(steps - 1, 0)
    delay = min(base, pacing.max_interval_s)
    return delay * (1 + pacing.jitter * (2 * rand() - 1))


def planned_delay(
    pacing: Pacing,
    history: History,
    *,
    recent: Sequence[Interval] = (),
    rand: Callable[[], float] = random.random,
) -> float | None:
    """The delay the job's progress or recent durations suggest; None: back off as usual."""
    now = history.elapsed_s
    if pacing.use_progress and history.progress:
        stalled = stalled_checks(history.progress)
        if stalled:
            return backoff(pacing, stalled, rand)
        estimate = progress_eta(history.progress)
        if estimate is not None:
            eta, confirmed = estimate
            ahead = max(eta - now, 0.0) + min(pacing.eta_margin * eta, pacing.max_lag_s)
            if not confirmed:  # look again halfway, at most doubling the time so far: the
                # next sample confirms the prediction or corrects it
                ahead = min(ahead, max(ahead / 2, pacing.max_lag_s), max(now, pacing.max_lag_s))
            return min(ahead, pacing.max_interval_s)
    if pacing.learn and len(recent) >= MEMORY_MIN_SAMPLES:
        done = share_done(recent, now)
        if done < 0.99:
            target = duration_quantile(recent, done + pacing.next_quantile * (1 - done))
            delay = min(max(target - now, 0.0), pacing.max_lag_s)
        else:  # slower than every recent job: back off from when the slowest one was done,
            # growing with the time since (checks at times in geometric progression)
            slowest = max(hi for _, hi in recent)
            delay = max(pacing.max_lag_s, (pacing.factor - 1) * (now - slowest))
        jittered = delay * (1 + pacing.jitter * (2 * rand() - 1))
        return min(jittered, pacing.max_interval_s)
    return None


def stalled_checks(samples: Sequence[tuple[float, float]]) -> int:
    """How many of the newest samples in a row show no advance over the one before them.

    0 when the newest advanced, or is the only one, or is 0 (queued, not started: no
    information rather than a stall)."""
    if not samples or samples[-1][1] <= 0:
        return 0
    count = 0
    for newer, older in zip(samples[:0:-1], samples[-2::-1], strict=True):
        if newer[1] > older[1]:
            break
        count += 1
    return count


def progress_eta(samples: Sequence[tuple[float, float]]) -> tuple[float, bool] | None:
    """When the job should be done (provider seconds since submission), and whether the
    samples agree on it; None without a usable sample.

    Progress as providers report it runs behind the clock (a queued phase at 0, steps, whole
    percents), so every sample's elapsed / fraction is a latest completion, and the smallest
    of them bounds it. The rate between the two newest samples that differ predicts it (exact
    for steady progress after a queued phase); it is confirmed when the rate before agrees
    within PROGRESS_AGREEMENT (steady progress does, progress in steps seldom)."""
    bounds = [t / f for t, f in samples if 0 < f < 1]
    if not bounds or not 0 < samples[-1][1] < 1:
        return None
    latest = min(bounds)
    rising = [samples[-1]]
    for t, f in reversed(samples[:-1]):
        if f < rising[-1][1] and t < rising[-1][0]:
            rising.append((t, f))
    if len(rising) < 2:
        return latest, False
    (t2, f2), (t1, f1) = rising[0], rising[1]
    rate = (f2 - f1) / (t2 - t1)
    confirmed = False
    if len(rising) >= 3:
        t0, f0 = rising[2]
        earlier = (f1 - f0) / (t1 - t0)
        confirmed = abs(rate - earlier) <= PROGRESS_AGREEMENT * rate
    return min(latest, t2 + (1 - f2) / rate), confirmed


def share_done(recent: Sequence[Interval], t: float) -> float:
    """Share of recent jobs finished by `t`, each spread evenly over its (lo, hi] interval."""
    total = 0.0
    for lo, hi in recent:
        if t >= hi:
            total += 1.0
        elif t > lo:
            total += (t - lo) / (hi - lo)
    return total / len(recent)


def duration_quantile(recent: Sequence[Interval], q: float) -> float:
    """The smallest t with share_done(recent, t) >= q (piecewise linear between interval ends)."""
    points = sorted({p for interval in recent for p in interval})
    before_t, before_share = points[0], 0.0
    for t in points:
        share = share_done(recent, t)
        if share >= q:
            if share == before_share:
                return t
            return before_t + (t - before_t) * (q - before_share) / (share - before_share)
        before_t, before_share = t, share
    return points[-1]


def next_check_in(delay_s: float, *, until_deadline_s: float, pacing: Pacing) -> float:
    """The courier's rule on a delay: the last check lands on the deadline, but never closer
    than the minimum interval. Provider seconds from now to the next check."""
    return max(min(delay_s, until_deadline_s), pacing.min_interval_s)


# -- the one piece of state -------------------------------------------------------------------
class Paced(Protocol):
    name: str
    pacing: Pacing


class Planner:
    """The policy as one instance applies it: each provider's pacing with the operator's
    overrides and, with `remember=True`, the durations of the jobs this instance saw finish.

    That memory lives in this process only: a few kilobytes, never shared between instances,
    never persisted, lost on a cold start (the configured pacing applies until
    MEMORY_MIN_SAMPLES jobs of a provider have finished again). Nothing a job needs to
    continue depends on it, so losing it costs checks or lag, never a job.
    """

    def __init__(
        self,
        providers: Mapping[str, Paced] | None = None,
        overrides: Mapping[str, Mapping[str, float | bool]] | None = None,
        *,
        remember: bool = False,
    ) -> None:
        overrides = overrides or {}
        providers = providers or {}
        unknown = sorted(set(overrides) - set(providers)) if providers else []
        if unknown:
            raise ConfigurationError(f"pacing overrides for unknown providers: {unknown}")
        self._overrides = overrides
        self._pacing = {
            name: with_overrides(p.pacing, overrides.get(name, {})) for name, p in providers.items()
        }
        self._remember = remember
        self._lock = threading.Lock()
        self._recent: dict[str, deque[Interval]] = {}
        self._last_check: OrderedDict[tuple[str, str], float] = OrderedDict()

    def pacing_for(self, provider: Paced) -> Pacing:
        pacing = self._pacing.get(provider.name)
        if pacing is None:
            pacing = with_overrides(provider.pacing, self._overrides.get(provider.name, {}))
        return pacing

    def recent(self, provider: str) -> tuple[Interval, ...]:
        with self._lock:
            return tuple(self._recent.get(provider, ()))

    def first_delay(self, provider: Paced, *, rand: Callable[[], float] | None = None) -> float:
        return first_delay(self.pacing_for(provider), recent=self.recent(provider.name), rand=rand)

    def next_delay(
        self,
        provider: Paced,
        job_id: str,
        history: History,
        *,
        retry_after_s: float | None = None,
        auth_fault: bool = False,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """`next_delay` with this instance's memory; notes that the job was running now."""
        if self._remember and retry_after_s is None and not auth_fault:
            self._note((provider.name, job_id), history.elapsed_s, finished=False)
        return next_delay(
            self.pacing_for(provider),
            history,
            retry_after_s=retry_after_s,
            auth_fault=auth_fault,
            rand=rand,
            recent=self.recent(provider.name),
        )

    def finished(self, provider: Paced, job_id: str, history: History) -> None:
        """A check saw the job done: it finished after the previous check and by this one.
        The previous check's time comes from this instance's memory or, when another instance
        made it, from the task; without either the job teaches nothing."""
        if not self._remember:
            return
        before = self._note((provider.name, job_id), history.elapsed_s, finished=True)
        if before == _FINISHED:
            return  # counted already (a duplicate delivery, or a copy that goes on)
        lo = 0.0 if history.checks <= 1 else before
        if lo is None:
            lo = history.previous_check_s
        if lo is None or not lo < history.elapsed_s:
            return
        with self._lock:
            recent = self._recent.setdefault(provider.name, deque(maxlen=MEMORY_SAMPLES))
            recent.append((round(lo, 3), round(history.elapsed_s, 3)))

    def _note(self, job: tuple[str, str], elapsed_s: float, *, finished: bool) -> float | None:
        """Record this check of a job; answer what was recorded before (None: nothing)."""
        with self._lock:
            before = self._last_check.pop(job, None)
            self._last_check[job] = _FINISHED if finished or before == _FINISHED else elapsed_s
            if len(self._last_check) > MEMORY_JOBS:
                self._last_check.popitem(last=False)
            return before


_FINISHED = -1.0  # in Planner._last_check: the job was counted already
