"""When to check next: pure functions of a provider's pacing, the job's history and the
durations of recent jobs. No state, no clock, no I/O: the planner (planner.py) holds the
memory and the time scale, and the simulator (bench/) runs these same functions.

The aim is the provider's `target_lag_s`: at most that long, for 95 % of jobs, between a job
finishing and the check that sees it, with as few checks as that allows. Every time here is in
provider seconds (what the provider's own clock would show). In order of precedence, the next
check of a running job comes
1. from the job's own progress (a provider that reports it): just after the completion the
   progress predicts, or halfway there while two rates of progress do not yet agree; read
   the way recent jobs' progress read (how far it ran behind the clock), even one sample
   places the completion within the target; when progress stalls or goes backwards, from
   backoff counted from the stall;
2. from the durations of recent jobs of the same provider (newer ones weigh more): the target
   after the moment the next few of the recent jobs still running at this point were done,
   or sooner when most of them were done sooner; past the slowest, backoff growing with the
   time since it was done;
3. from exponential backoff with jitter, capped at the target, as with no information at all.
The first check likewise: `first_check_s` (no later than the target), or from recent
durations once known: the target after the fastest of them were done, where jobs seen done
at their first check count as finished the way the jobs just after it suggest (a job takes
some time), not evenly from zero; or when all of them were done, if sooner.
Whatever the source: never sooner than `min_interval_s`, never later than `max_interval_s`
(except a Retry-After or a rejected key, which wait longer), never past the deadline unless
the minimum interval asks, never more than 30 days ahead. Jitter (on the first check and on
backoff: what jobs submitted together would otherwise share) only ever brings a check forward.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from jobcourier.limits import MAX_SCHEDULE_AHEAD
from jobcourier.pacing import Pacing

MAX_SCHEDULE_AHEAD_S = MAX_SCHEDULE_AHEAD.total_seconds()
AUTH_FAULT_DELAY_S = 600.0  # a rejected key waits for an operator, not for the provider
MEMORY_MIN_SAMPLES = 4  # fewer finished jobs than this: the configured pacing alone
MEMORY_HALF_LIFE = 16  # a finished job weighs half as much 16 finished jobs later
PROGRESS_AGREEMENT = 0.2  # two rates of progress this close (relative) confirm a prediction
COARSE_STEP = 0.05  # progress only ever in multiples of this may move in steps: no rate yet
# The steps a reported fraction may have been rounded down to: the coarsest of these it is a
# whole multiple of (50 % may be a step of a quarter; 37 % only a whole percent)
PROGRESS_STEPS = (0.25, 0.1, 0.05, 0.01)
# Of the 5 % of jobs a target lets wait longer: the fastest recent ones, done before the
# first check's target lag began (what waiting for the bulk of them costs)
EARLY_SHARE = 0.015
TAIL_SHARE = 0.02  # ... and the slowest: past them, checks back off (lag grows)
TAIL_MIN_SAMPLES = 32  # past the slowest of fewer recent jobs than this: no backoff beyond cap
# Jobs seen done at their first check finished some time before it. Below the first checks
# the distribution goes on as it runs just after them (the share done by FIRST_SPAN times
# their time against the share done by then: a power of time), between evenly (a power of
# 1) and a density rising from zero in a straight line (FIRST_POWER_MAX), in pieces halving
# down to 1/2**FIRST_PIECES of the check's time
FIRST_SPAN = 1.25
FIRST_POWER_MAX = 2.0
FIRST_PIECES = 5

Interval = tuple[float, float]  # a finished job's duration lies in (lo, hi] provider seconds


@dataclass(frozen=True)
class History:
    """What the task carries about the job so far. Seconds are provider seconds (unscaled)."""

    checks: int  # status checks done, this one included
    elapsed_s: float  # since submission
    progress: tuple[tuple[float, float], ...] = ()  # (elapsed_s, fraction 0..1), oldest first
    previous_check_s: float | None = None  # elapsed_s of the check before this one, if any


@dataclass(frozen=True)
class Durations:
    """The durations of recent jobs as a distribution: each job spread evenly over its
    (lo, hi] interval, weighted by recency (half as much MEMORY_HALF_LIFE jobs later); a job
    seen done at its first check, (0, hi], as the jobs just after its check suggest
    (`first_power`). `times` and `shares` are the knots of its piecewise linear distribution
    function."""

    times: tuple[float, ...]
    shares: tuple[float, ...]
    samples: int

    @property
    def slowest(self) -> float:
        """When the slowest recent job was done, at the latest (whatever its weight)."""
        return self.times[-1]

    @classmethod
    def of(cls, recent: Sequence[Interval], half_life: float = MEMORY_HALF_LIFE) -> Durations:
        """From intervals, oldest first. O(n log n): the planner keeps the result."""
        n = len(recent)
        if not n:
            return cls((), (), 0)
        weights = [0.5 ** ((n - 1 - i) / half_life) for i in range(n)]
        total = sum(weights)
        weights = [w / total for w in weights]
        power = first_power(recent, weights)
        pieces: list[tuple[Interval, float]] = []
        for (lo, hi), w in zip(recent, weights, strict=True):
            if lo <= 0 < hi and power > 1:  # (0, hi] in pieces, each its share of t**power
                edges = [0.0, *(0.5**k for k in range(FIRST_PIECES, -1, -1))]
                pieces += [
                    ((a * hi, b * hi), w * (b**power - a**power)) for a, b in pairwise(edges)
                ]
            else:
                pieces.append(((lo, hi), w))
        slope_change: dict[float, float] = {}  # where an interval starts or ends
        jumps: dict[float, float] = {}  # an interval of no width: all its weight at once
        for (lo, hi), w in pieces:
            if hi <= lo:
                jumps[hi] = jumps.get(hi, 0.0) + w
                continue
            rate = w / (hi - lo)
            slope_change[lo] = slope_change.get(lo, 0.0) + rate
            slope_change[hi] = slope_change.get(hi, 0.0) - rate
        times: list[float] = []
        shares: list[float] = []
        slope = share = 0.0
        before = None
        for t in sorted(slope_change.keys() | jumps.keys()):
            if before is not None:
                share += slope * (t - before)
            if t in jumps:  # a step: the knot before it and the knot after it
                times.append(t)
                shares.append(min(share, 1.0))
                share += jumps[t]
            times.append(t)
            shares.append(min(share, 1.0))
            slope += slope_change.get(t, 0.0)
            before = t
        shares[-1] = 1.0
        return cls(tuple(times), tuple(shares), n)

    def share_done(self, t: float) -> float:
        """Share of recent jobs done by `t`."""
        i = bisect.bisect_right(self.times, t)
        if i == 0:
            return 0.0
        if i == len(self.times):
            return 1.0
        t0, t1 = self.times[i - 1], self.times[i]
        s0, s1 = self.shares[i - 1], self.shares[i]
        return s0 + (s1 - s0) * (t - t0) / (t1 - t0)

    def quantile(self, q: float) -> float:
        """The earliest t with share_done(t) >= q."""
        i = bisect.bisect_left(self.shares, q)
        if i == 0:
            return self.times[0]
        if i == len(self.shares):
            return self.times[-1]
        t0, t1 = self.times[i - 1], self.times[i]
        s0, s1 = self.shares[i - 1], self.shares[i]
        return t1 if s1 == s0 else t0 + (t1 - t0) * (q - s0) / (s1 - s0)


def first_power(recent: Sequence[Interval], weights: Sequence[float]) -> float:
    """How the share of jobs done grows with time just after the first checks, read as a
    power of time: the share done by FIRST_SPAN times their (weighted mean) time against the
    share seen done at them, within 1 (evenly, all that is known below a check) and
    FIRST_POWER_MAX. A job takes some time: where many more jobs finish just after the first
    checks than were done at them, few finished long before them."""
    first = [(hi, w) for (lo, hi), w in zip(recent, weights, strict=True) if lo <= 0 < hi]
    done = sum(w for _, w in first)
    if not first or done >= 1:
        return 1.0
    at = sum(hi * w for hi, w in first) / done
    until = at * FIRST_SPAN
    after = sum(
        w * max(min(hi, until) - max(lo, at), 0.0) / (hi - lo)
        for (lo, hi), w in zip(recent, weights, strict=True)
        if 0 < lo < hi
    )
    power = math.log(1 + after / done) / math.log(FIRST_SPAN)
    return min(max(power, 1.0), FIRST_POWER_MAX)


def _known(pacing: Pacing, durations: Durations | None) -> Durations | None:
    if pacing.learn and durations is not None and durations.samples >= MEMORY_MIN_SAMPLES:
        return durations
    return None


def _earlier(delay: float, pacing: Pacing, rand: Callable[[], float] | None) -> float:
    """Jitter: up to `jitter` of the delay sooner, never later."""
    return delay if rand is None else delay * (1 - pacing.jitter * rand())


# -- the pure policy --------------------------------------------------------------------------
def first_delay(
    pacing: Pacing,
    *,
    durations: Durations | None = None,
    rand: Callable[[], float] | None = None,
) -> float:
    """Seconds from submission to the first check: `first_check_s` while nothing is known
    (no later than the target: a job done at once would wait longer); once recent jobs of
    this provider are, `target_lag_s` after the fastest EARLY_SHARE of them were done, or when
    `first_quantile` of them were, if sooner (never sooner than `min_interval_s`). Jitter
    brings the first only forward: checking before the second finds jobs still running."""
    known = _known(pacing, durations)
    if known is None:
        return min(pacing.first_check_s, blind_cap(pacing))
    learned = min(
        _earlier(known.quantile(EARLY_SHARE) + pacing.target_lag_s, pacing, rand),
        known.quantile(pacing.first_quantile),
    )
    return min(max(pacing.min_interval_s, learned), MAX_SCHEDULE_AHEAD_S)


def next_check_in(
    pacing: Pacing,
    history: History,
    *,
    until_deadline_s: float,
    retry_after_s: float | None = None,
    auth_fault: bool = False,
    rand: Callable[[], float] = random.random,
    durations: Durations | None = None,
    queued: float | None = None,
) -> float:
    """Seconds from this check to the next one of the same job: the policy's delay, with the
    last check landing on the deadline, but never closer than the minimum interval."""
    delay = next_delay(
        pacing,
        history,
        retry_after_s=retry_after_s,
        auth_fault=auth_fault,
        rand=rand,
        durations=durations,
        queued=queued,
    )
    return max(min(delay, until_deadline_s), pacing.min_interval_s)


def next_delay(
    pacing: Pacing,
    history: History,
    *,
    retry_after_s: float | None = None,
    auth_fault: bool = False,
    rand: Callable[[], float] = random.random,
    durations: Durations | None = None,
    queued: float | None = None,
) -> float:
    """What the policy would wait from this check, before the deadline has its say."""
    delay = planned_delay(pacing, history, durations=durations, rand=rand, queued=queued)
    if auth_fault:
        delay = max(delay, AUTH_FAULT_DELAY_S)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(max(delay, pacing.min_interval_s), MAX_SCHEDULE_AHEAD_S)


def blind_cap(pacing: Pacing) -> float:
    """The longest wait without information: the target lag (a job finishing just after a
    check waits that long), within the minimum and maximum intervals."""
    return min(max(pacing.target_lag_s, pacing.min_interval_s), pacing.max_interval_s)


def backoff(pacing: Pacing, checks: int, rand: Callable[[], float]) -> float:
    """Exponential from the first check's delay, jittered: first_check_s x factor^checks (at
    least min_interval_s), at most blind_cap()."""
    cap = blind_cap(pacing)
    start = max(pacing.first_check_s, pacing.min_interval_s)
    try:
        base = start * pacing.factor ** max(checks, 0)
    except OverflowError:  # as stamina does: a job checked for days grows past any float
        base = cap
    return _earlier(min(base, cap), pacing, rand)


def planned_delay(
    pacing: Pacing,
    history: History,
    *,
    durations: Durations | None = None,
    rand: Callable[[], float] = random.random,
    queued: float | None = None,
) -> float:
    """The delay from the job's progress when it is trusted, else from recent durations (or
    backoff without them), brought forward to where unconfirmed progress says to look.
    `queued`: how far recent jobs' progress ran behind the clock (`queued_share`), if known:
    then progress the rate of two samples does not confirm is read that way, and trusted when
    it places the completion within the target (the latest completion it allows is checked)."""
    now = history.elapsed_s
    lag = pacing.target_lag_s
    look: float | None = None  # where unconfirmed progress says to look again, if anywhere
    if pacing.use_progress and history.progress:
        estimate = progress_eta(history.progress)
        if estimate is not None:
            eta, confirmed = estimate
            if not confirmed and queued is not None:
                window = completion_window(history.progress, queued)
                if window is not None and window[1] - max(window[0], now) <= lag:
                    eta, confirmed = window[1], True
            ahead = max(eta - now, 0.0) + min(pacing.eta_margin * eta, lag)
            if confirmed and not stalled_checks(history.progress):  # when far off, halfway:
                # the prediction is refined on the way
                return min(ahead, max(ahead / 2, pacing.max_interval_s))
            # unconfirmed: halfway there, at most doubling the time so far (the next sample
            # confirms the prediction or corrects it), unless durations say to look sooner
            look = min(ahead, max(ahead / 2, lag), max(now, lag))
    known = _known(pacing, durations)
    done = 0.0 if known is None else known.share_done(now)
    if known is None:
        delay = backoff(pacing, history.checks, rand)
    elif done < 1 - TAIL_SHARE:
        # the target lag after now (or, before the fastest recent jobs were done, after
        # then), or when most of the still-running recent jobs were done, if sooner
        until = min(
            max(now, known.quantile(EARLY_SHARE)) + lag,
            known.quantile(done + pacing.next_quantile * (1 - done)),
        )
        delay = until - now
    elif known.samples >= TAIL_MIN_SAMPLES:  # slower than nearly all of many recent jobs:
        # back off from when those were done, growing with the time since (checks at times
        # in geometric progression)
        tail = known.quantile(1 - TAIL_SHARE)
        delay = _earlier(max(lag, (pacing.factor - 1) * (now - tail)), pacing, rand)
    else:  # slower than every one of a few: they say little
        delay = backoff(pacing, history.checks, rand)
    if look is not None:
        delay = min(delay, look)
    return min(delay, pacing.max_interval_s)


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


def _coarse(fraction: float) -> bool:
    """A fraction in whole steps of COARSE_STEP (25 %, 50 %): perhaps progress in steps."""
    steps = fraction / COARSE_STEP
    return abs(steps - round(steps)) < 1e-6


def _rising(samples: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The newest sample and, going back, each earlier one that is lower: newest first."""
    rising = [samples[-1]]
    for t, f in reversed(samples[:-1]):
        if f < rising[-1][1] and t < rising[-1][0]:
            rising.append((t, f))
    return rising


def _steady(older: float, newer: float) -> bool:
    """Two fractions a rate can be read from: past the queue, not both in coarse steps."""
    return older > 0 and not (_coarse(older) and _coarse(newer))


def progress_eta(samples: Sequence[tuple[float, float]]) -> tuple[float, bool] | None:
    """When the job should be done (provider seconds since submission), and whether the
    samples agree on it; None without a usable sample.

    Progress as providers report it runs behind the clock (a queued phase at 0, steps, whole
    percents), so every sample's elapsed / fraction is a latest completion, and the smallest
    of them bounds it. The rate between the two newest samples that differ predicts it (exact
    for steady progress after a queued phase); it is confirmed when both samples are past the
    queue and not both in coarse steps (multiples of COARSE_STEP), or when the rate before
    agrees within PROGRESS_AGREEMENT (steady progress does, progress in steps seldom)."""
    bounds = [t / f for t, f in samples if 0 < f < 1]
    if not bounds or not 0 < samples[-1][1] < 1:
        return None
    latest = min(bounds)
    rising = _rising(samples)
    if len(rising) < 2:
        return latest, False
    (t2, f2), (t1, f1) = rising[0], rising[1]
    rate = (f2 - f1) / (t2 - t1)
    # two fine-grained samples past the queue: steady progress, taken at its word
    confirmed = _steady(f1, f2)
    if not confirmed and len(rising) >= 3:
        t0, f0 = rising[2]
        earlier = (f1 - f0) / (t1 - t0)
        confirmed = abs(rate - earlier) <= PROGRESS_AGREEMENT * rate
    return min(latest, t2 + (1 - f2) / rate), confirmed


def queued_share(samples: Sequence[tuple[float, float]]) -> float | None:
    """How far a job's progress ran behind the clock: the share of its duration that passed
    before its progress began to move (its queue), from the line through its two newest
    samples that give a rate (past the queue, not both in coarse steps); None without them.
    The planner keeps it for the jobs of a provider that finished (Planner.queued_share)."""
    moving = [(t, f) for t, f in samples if 0 < f < 1]
    if len(moving) < 2:
        return None
    (t2, f2), *older = _rising(moving)
    if not older or not _steady(older[0][1], f2):
        return None
    t1, f1 = older[0]
    rate = (f2 - f1) / (t2 - t1)
    start = max(t2 - f2 / rate, 0.0)  # when the progress would have read 0
    return start / (start + 1 / rate)


def _step(fraction: float) -> float:
    """The coarsest of PROGRESS_STEPS that `fraction` is a whole multiple of."""
    for step in PROGRESS_STEPS:
        steps = fraction / step
        if abs(steps - round(steps)) < 1e-6:
            return step
    return PROGRESS_STEPS[-1]


def completion_window(
    samples: Sequence[tuple[float, float]], queued: float
) -> tuple[float, float] | None:
    """The earliest and latest completion the samples allow when progress reads the share of
    a job's running time past a queue of `queued` of its duration, rounded down to its step:
    a fraction f at t says the job takes between t / ((f + step) (1 - queued) + queued) and
    t / (f (1 - queued) + queued). None without a sample past the queue, or when the samples
    contradict that reading (then the rate or the bounds of `progress_eta` decide)."""
    earliest, latest = 0.0, math.inf
    for t, f in samples:
        if 0 < f < 1:
            above = min(f + _step(f), 1.0)
            earliest = max(earliest, t / (above * (1 - queued) + queued))
            latest = min(latest, t / (f * (1 - queued) + queued))
    if math.isinf(latest) or earliest > latest:
        return None
    return earliest, latest
