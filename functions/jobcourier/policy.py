"""When to check next: pure functions of a provider's pacing, the job's history and the
durations of recent jobs. No state, no clock, no I/O: the planner (planner.py) holds the
memory and the time scale, and the simulator (bench/) runs these same functions.

Every time here is in provider seconds (what the provider's own clock would show). In order of
precedence, the next check of a running job comes
1. from the job's own progress (a provider that reports it): just after the completion the
   progress predicts, or halfway there while two rates of progress do not yet agree; when
   progress stalls or goes backwards, from backoff counted from the stall;
2. from the durations of recent jobs of the same provider: when half of the recent jobs still
   running at this point were done, but at most `max_lag_s` on; past every recent job, backoff
   growing with the time since the slowest was done;
3. from capped exponential backoff with jitter, as with no information at all.
The first check likewise: `first_check_s`, or from recent durations once known.
Whatever the source: never sooner than `min_interval_s`, never later than `max_interval_s`
(except a Retry-After or a rejected key, which wait longer), never past the deadline unless
the minimum interval asks, never more than 30 days ahead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobcourier.limits import MAX_SCHEDULE_AHEAD
from jobcourier.pacing import Pacing

MAX_SCHEDULE_AHEAD_S = MAX_SCHEDULE_AHEAD.total_seconds()
AUTH_FAULT_DELAY_S = 600.0  # a rejected key waits for an operator, not for the provider
MEMORY_MIN_SAMPLES = 4  # fewer finished jobs than this: the configured pacing alone
PROGRESS_AGREEMENT = 0.2  # two rates of progress this close (relative) confirm a prediction
EARLY_QUANTILE = 0.05  # "the earliest a job may be done": when 5 % of recent jobs were

Interval = tuple[float, float]  # a finished job's duration lies in (lo, hi] provider seconds


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


def next_check_in(
    pacing: Pacing,
    history: History,
    *,
    until_deadline_s: float,
    retry_after_s: float | None = None,
    auth_fault: bool = False,
    rand: Callable[[], float] = random.random,
    recent: Sequence[Interval] = (),
) -> float:
    """Seconds from this check to the next one of the same job: the policy's delay, with the
    last check landing on the deadline, but never closer than the minimum interval."""
    delay = next_delay(
        pacing,
        history,
        retry_after_s=retry_after_s,
        auth_fault=auth_fault,
        rand=rand,
        recent=recent,
    )
    return max(min(delay, until_deadline_s), pacing.min_interval_s)


def next_delay(
    pacing: Pacing,
    history: History,
    *,
    retry_after_s: float | None = None,
    auth_fault: bool = False,
    rand: Callable[[], float] = random.random,
    recent: Sequence[Interval] = (),
) -> float:
    """What the policy would wait from this check, before the deadline has its say."""
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
    try:
        base = pacing.min_interval_s * pacing.factor ** max(steps - 1, 0)
    except OverflowError:  # as stamina does: a job checked for days grows past any float
        base = pacing.max_interval_s
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
