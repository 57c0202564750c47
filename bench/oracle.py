"""A lower bound: the fewest checks per job any schedule needs for a given p95 lag, when it
knows the distribution of durations (the workload's own, per provider and per phase of a
drift) but not each job's own duration.

The oracle plans one schedule of check times per provider (and phase), the same for every
job of it, and keeps to the rules the policy keeps: checks of one job at least the provider's
`min_interval_s` apart, the first one too (counted from submission). It reads progress as well
as the policy could at best: a job that reports progress tells its exact duration at the first
check that sees it past 0 % (linear progress: a tenth of the job queued, then whole percents;
stepwise: the first quarter), and is then seen done by one more check, as soon as the minimum
interval allows. So it is a bound no policy with the same information beats.

The p95 lag pools every provider, as the benchmark does: at most 5 % of all jobs may wait
longer than the lag. Dynamic programming over check times (for one lag and a price per job
that waits longer, each provider on its own), the price searched over a grid; the bound is the
best of the Lagrangian dual over that grid, so it never claims more than the true optimum,
and a schedule mixing the two best plans meets it where the grid is fine enough (the gap is
reported as `achievable`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.simulate import QUEUED_SHARE, STEPS
from bench.workload import Job
from jobcourier.providers import REGISTRY

Floats = npt.NDArray[np.float64]

# Where a job's progress first shows more than 0 %, as a share of its duration: after the
# queued tenth, at 1 % (linear) or at the first step (stepwise); without progress, when done.
REVEAL = {
    "none": 1.0,
    "linear": QUEUED_SHARE + 0.01 * (1 - QUEUED_SHARE),
    "stepwise": QUEUED_SHARE + (1 - QUEUED_SHARE) / STEPS,
}
PRICES = np.geomspace(1e-3, 1e4, 71)  # checks one longer wait is worth: the grid searched
EPS = 1e-9


@dataclass(frozen=True)
class Bound:
    lag_s: float  # the p95 lag it is the bound for
    checks_per_job: float  # no schedule that knows only the distribution does better (inf:
    # no schedule meets the lag at all under the minimum intervals)
    achievable: float  # checks per job of a schedule that mixes two of the plans found


@dataclass(frozen=True)
class _Plan:
    checks: Floats  # per price: checks, summed over the group's jobs
    late: Floats  # per price: jobs waiting longer than the lag


def _counter(values: Floats) -> tuple[Floats, int]:
    ordered = np.sort(values)
    return ordered, len(ordered)


def _between(ordered: Floats, low: Floats, high: Floats) -> Floats:
    """How many of `ordered` lie strictly inside (low, high), elementwise; 0 where empty."""
    count = np.searchsorted(ordered, high - EPS, "right") - np.searchsorted(ordered, low, "right")
    counted: Floats = np.maximum(count, 0).astype(np.float64)
    return counted


def _plan(durations: Mapping[str, Floats], min_interval: float, lag: float) -> _Plan:
    """The best schedule for one group at every price: dynamic programming over the times a
    check could usefully happen (a job done, revealed, or about to wait longer than the lag;
    and one minimum interval after each)."""
    points = [np.zeros(1)]
    for kind, d in durations.items():
        points += [d, d + lag]
        if kind != "none":
            points.append(d * REVEAL[kind])
    base = np.unique(np.concatenate(points))
    times = np.unique(np.concatenate([base, base + min_interval]))
    size = len(times)
    t_from = times[:, None]  # the check before (or the submission, at 0)
    t_to = times[None, :]  # the check planned
    allowed = t_to >= t_from + min_interval - EPS
    alive = np.zeros(size)
    extra = np.zeros((size, size))  # checks beyond the planned one: revealed, not yet done
    late = np.zeros((size, size))
    for kind, d in durations.items():
        ordered, n = _counter(d)
        r = REVEAL[kind]
        alive += n - np.searchsorted(ordered, times * (1 / r) if r < 1 else times, "right")
        if r >= 1:
            late += _between(ordered, np.broadcast_to(t_from, late.shape), t_to - lag)
            continue
        revealed_from = np.broadcast_to(t_from / r, late.shape)
        # seen done by the planned check: revealed after the check before, done by this one
        late += _between(ordered, revealed_from, t_to - lag)
        # revealed but running: one more check, as soon as the minimum interval allows
        running_from = np.maximum(revealed_from, t_to)
        extra += _between(ordered, running_from, t_to / r + EPS)
        late += _between(
            ordered, running_from, np.minimum(t_to / r + EPS, t_to + min_interval - lag)
        )
    prices = PRICES[None, :]
    value = np.zeros((size, len(PRICES)))  # cost to go from a check at times[i], per price
    checks_to_go = np.zeros_like(value)
    late_to_go = np.zeros_like(value)
    for i in range(size - 1, -1, -1):
        if alive[i] <= 0:
            continue
        k = np.nonzero(allowed[i])[0]
        if not len(k):  # no later time: unreachable in a plan (the last times see all done)
            value[i] = np.inf
            continue
        step_checks = alive[i] + extra[i, k]
        cost = (step_checks[:, None] + late[i, k][:, None] * prices) + value[k]
        best = np.argmin(cost, axis=0)
        chosen = k[best]
        value[i] = cost[best, np.arange(len(PRICES))]
        checks_to_go[i] = step_checks[best] + checks_to_go[chosen, np.arange(len(PRICES))]
        late_to_go[i] = late[i, chosen] + late_to_go[chosen, np.arange(len(PRICES))]
    return _Plan(checks_to_go[0], late_to_go[0])


def groups(
    jobs: Sequence[Job], *, reads_progress: bool = True
) -> dict[tuple[str, int], dict[str, Floats]]:
    """Durations per (provider, phase) and progress kind: what the oracle knows."""
    found: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for job in jobs:
        kind = job.progress if reads_progress else "none"
        found[(job.provider, job.phase)][kind].append(job.duration_s)
    return {
        key: {kind: np.asarray(d, dtype=np.float64) for kind, d in kinds.items()}
        for key, kinds in found.items()
    }


def bound(
    jobs: Sequence[Job], lag_s: float, *, share: float = 0.05, reads_progress: bool = True
) -> Bound:
    """The fewest checks per job with at most `share` of all jobs waiting longer than `lag_s`
    (infinite where no schedule keeps to the minimum intervals and meets it)."""
    plans = [
        _plan(kinds, REGISTRY[provider].pacing.min_interval_s, lag_s)
        for (provider, _), kinds in groups(jobs, reads_progress=reads_progress).items()
    ]
    checks = np.sum([p.checks for p in plans], axis=0)
    late = np.sum([p.late for p in plans], axis=0)
    budget = share * len(jobs) + EPS
    n = len(jobs)
    if late[-1] > budget:  # even at the highest price, too many wait longer: infeasible
        return Bound(lag_s, np.inf, np.inf)
    lower = float(np.max(checks + PRICES * (late - budget)))
    # a plan within the budget, or a mix of it and a cheaper one over the budget (for a
    # share of jobs: the mix that just meets the budget)
    fits = late <= budget
    cheapest = int(np.flatnonzero(fits)[np.argmin(checks[fits])])
    achievable = float(checks[cheapest])
    for j in np.flatnonzero(~fits & (checks < checks[cheapest])):
        w = (budget - late[cheapest]) / (late[j] - late[cheapest])
        achievable = min(achievable, float(checks[cheapest] + w * (checks[j] - checks[cheapest])))
    return Bound(lag_s, max(lower, 0.0) / n, achievable / n)
