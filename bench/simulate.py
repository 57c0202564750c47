"""The simulator: jobs arrive, each policy checks them in simulated time, nothing sleeps.

The jobcourier policy is the real code: `Planner` with the providers' own pacing (and
JOBCOURIER_PACING-style overrides), in provider time, asked the very question the courier asks
(`next_check_in`). A check sees the job done when the provider's clock has passed its duration;
while running, a job that reports progress gives a sample the way the courier records it.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bench.workload import Job
from jobcourier.model import MAX_PROGRESS_SAMPLES
from jobcourier.planner import Planner
from jobcourier.policy import History
from jobcourier.providers import REGISTRY

QUEUED_SHARE = 0.1  # progress stays 0 for the first tenth of a job (the provider's queue)
STEPS = 4  # stepwise progress moves in quarters

Progress = tuple[tuple[float, float], ...]


def reported_progress(job: Job, elapsed_s: float) -> float | None:
    """What the provider says while the job runs: whole percents, never 100 before done."""
    if job.progress == "none":
        return None
    queued = QUEUED_SHARE * job.duration_s
    share = max(elapsed_s - queued, 0.0) / (job.duration_s - queued)
    if job.progress == "stepwise":
        share = math.floor(share * STEPS) / STEPS
    return min(math.floor(share * 100) / 100, 0.99)


class Policy(Protocol):
    name: str

    def first(self, job_id: str, job: Job) -> float:
        """Seconds from submission to the first check."""
        ...

    def next(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        progress: Progress,
        deadline_s: float,
    ) -> float:
        """Seconds from submission to the next check (the job is running at `elapsed_s`)."""
        ...

    def finished(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        previous_s: float | None = None,
        progress: Progress = (),
    ) -> None: ...


@dataclass
class FixedInterval:
    """`honour_minimum`: never closer than the provider's minimum interval."""

    interval_s: float
    honour_minimum: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"fixed-{self.interval_s:g}s" + (
            "-min" if self.honour_minimum else ""
        )

    def first(self, job_id: str, job: Job) -> float:
        if self.honour_minimum:
            return max(self.interval_s, REGISTRY[job.provider].pacing.min_interval_s)
        return self.interval_s

    def next(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        progress: Progress,
        deadline_s: float,
    ) -> float:
        return elapsed_s + self.first(job_id, job)

    def finished(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        previous_s: float | None = None,
        progress: Progress = (),
    ) -> None:
        return None


@dataclass
class Exponential:
    """`honour_minimum`: never closer than the provider's minimum interval (the fair baseline:
    a policy that may not break SellerPic's 60 s rule)."""

    first_s: float = 1.0
    factor: float = 1.25
    cap_s: float = 60.0
    honour_minimum: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or (
            f"exp-{self.first_s:g}s-x{self.factor:g}-cap{self.cap_s:g}s"
            + ("-min" if self.honour_minimum else "")
        )

    def first(self, job_id: str, job: Job) -> float:
        return self.first_s

    def next(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        progress: Progress,
        deadline_s: float,
    ) -> float:
        delay = min(self.first_s * self.factor**checks, self.cap_s)
        if self.honour_minimum:
            delay = max(delay, REGISTRY[job.provider].pacing.min_interval_s)
        return elapsed_s + delay

    def finished(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        previous_s: float | None = None,
        progress: Progress = (),
    ) -> None:
        return None


MEMORIES = ("instance", "task", "shared", "none")


@dataclass
class Jobcourier:
    """The real policy, as `instances` function instances apply it; every check lands on one of
    them at random, as Cloud Tasks dispatches do. `memory`: "task" (as deployed), each
    instance its own, and every task carries the recent durations of the instance that wrote
    it, which a colder instance takes (Planner.carry, Planner.adopt); "instance", each
    instance its own and nothing carried; "shared", one
    memory all instances read and none loses (what a shared store would give at best); "none".
    `restart_p`: the chance that a dispatch lands on a new instance, its memory lost (a cold
    start)."""

    overrides: Mapping[str, Mapping[str, float | bool]] = field(default_factory=dict)
    memory: str = "task"
    instances: int = 1
    restart_p: float = 0.0
    seed: int = 0
    name: str = "jobcourier"

    def __post_init__(self) -> None:
        if self.memory not in MEMORIES:
            raise ValueError(f"memory must be one of {MEMORIES}. Found: {self.memory!r}")
        self._rng = random.Random(self.seed)
        self._planners = [self._new() for _ in range(self.instances)]
        self._carried: dict[str, tuple[tuple[float, float], ...]] = {}  # job -> its task's
        self.restarts = 0

    def _new(self) -> Planner:
        return Planner(
            REGISTRY, self.overrides, remember=self.memory != "none", rand=self._rng.random
        )

    def _planner(self) -> Planner:
        if self.memory == "shared":
            return self._planners[0]
        index = self._rng.randrange(len(self._planners))
        if self.restart_p and self._rng.random() < self.restart_p:
            self._planners[index] = self._new()
            self.restarts += 1
        return self._planners[index]

    def _on(self, job_id: str, job: Job) -> Planner:
        """The instance this dispatch lands on; with memory="task", it reads the task first."""
        planner = self._planner()
        if self.memory == "task":
            planner.adopt(job.provider, self._carried.get(job_id, ()))
        return planner

    def _wrote(self, planner: Planner, job_id: str, job: Job) -> None:
        if self.memory == "task":
            self._carried[job_id] = planner.carry(job.provider)

    def first(self, job_id: str, job: Job) -> float:
        planner = self._on(job_id, job)
        self._wrote(planner, job_id, job)
        return planner.first_delay(REGISTRY[job.provider])

    def next(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        progress: Progress,
        deadline_s: float,
    ) -> float:
        history = History(checks=checks, elapsed_s=elapsed_s, progress=progress)
        planner = self._on(job_id, job)
        self._wrote(planner, job_id, job)
        return elapsed_s + planner.next_check_in(
            REGISTRY[job.provider], job_id, history, until_deadline_s=deadline_s - elapsed_s
        )

    def finished(
        self,
        job_id: str,
        job: Job,
        checks: int,
        elapsed_s: float,
        previous_s: float | None = None,
        progress: Progress = (),
    ) -> None:
        # the task carries the previous check's time, as PollTask.last_check_s does, and
        # the progress samples recorded so far
        history = History(
            checks=checks, elapsed_s=elapsed_s, progress=progress, previous_check_s=previous_s
        )
        self._on(job_id, job).finished(REGISTRY[job.provider], job_id, history)
        self._carried.pop(job_id, None)

    def deadline_s(self, job: Job) -> float:
        return self._planners[0].pacing_for(REGISTRY[job.provider]).default_deadline_s


@dataclass(frozen=True)
class Outcome:
    provider: str
    checks: int
    lag_s: float | None  # None: the deadline came first
    violations: int


def arrivals(count: int, mean_gap_s: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    moments, t = [], 0.0
    for _ in range(count):
        moments.append(t)
        t += rng.expovariate(1 / mean_gap_s)
    return moments


def submissions(jobs: Sequence[Job], mean_gap_s: float, seed: int) -> list[float]:
    """The workload's own submission times, or Poisson arrivals where it has none."""
    if jobs and all(j.submitted_s is not None for j in jobs):
        return [float(j.submitted_s or 0.0) for j in jobs]
    return arrivals(len(jobs), mean_gap_s, seed)


def simulate(
    policy: Policy,
    jobs: Sequence[Job],
    submitted: Sequence[float],
    *,
    deadline_for: Callable[[Job], float],
) -> list[Outcome]:
    """Every job from submission to the check that sees it done (or to its deadline)."""
    # (absolute time, tie-break, job index, a check?): submissions are events too, so the
    # first check is planned with what the policy had learned by then
    heap = [(at, index, index, False) for index, at in enumerate(submitted)]
    counter = len(heap)
    heapq.heapify(heap)
    checks = [0] * len(jobs)
    last = [-math.inf] * len(jobs)
    violations = [0] * len(jobs)
    progress: list[Progress] = [()] * len(jobs)
    outcomes: dict[int, Outcome] = {}
    while heap:
        at, _, index, is_check = heapq.heappop(heap)
        job, job_id = jobs[index], str(index)
        if not is_check:
            heapq.heappush(heap, (at + policy.first(job_id, job), counter, index, True))
            counter += 1
            continue
        elapsed = at - submitted[index]
        checks[index] += 1
        if elapsed - last[index] < REGISTRY[job.provider].pacing.min_interval_s - 1e-6:
            violations[index] += 1
        previous = last[index] if math.isfinite(last[index]) else None
        last[index] = elapsed
        deadline = deadline_for(job)
        if elapsed >= job.duration_s:
            policy.finished(job_id, job, checks[index], elapsed, previous, progress[index])
            outcomes[index] = Outcome(
                job.provider, checks[index], elapsed - job.duration_s, violations[index]
            )
            continue
        if elapsed >= deadline:
            outcomes[index] = Outcome(job.provider, checks[index], None, violations[index])
            continue
        fraction = reported_progress(job, elapsed)
        if fraction is not None:
            sample = (round(elapsed, 3), round(fraction, 4))
            progress[index] = (*progress[index], sample)[-MAX_PROGRESS_SAMPLES:]
        following = policy.next(job_id, job, checks[index], elapsed, progress[index], deadline)
        heapq.heappush(heap, (submitted[index] + following, counter, index, True))
        counter += 1
    return [outcomes[i] for i in range(len(jobs))]


@dataclass(frozen=True)
class Summary:
    policy: str
    jobs: int
    checks_per_job: float
    lag_p50_s: float
    lag_p95_s: float
    lag_p99_s: float
    lag_max_s: float
    pacing_violations: int
    timed_out: int

    def to_json(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "checks_per_job": round(self.checks_per_job, 3),
            "lag_p50_s": round(self.lag_p50_s, 1),
            "lag_p95_s": round(self.lag_p95_s, 1),
            "lag_p99_s": round(self.lag_p99_s, 1),
            "lag_max_s": round(self.lag_max_s, 1),
            "pacing_violations": self.pacing_violations,
        }


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(name: str, outcomes: Sequence[Outcome]) -> Summary:
    lags = [o.lag_s for o in outcomes if o.lag_s is not None]
    return Summary(
        policy=name,
        jobs=len(outcomes),
        checks_per_job=sum(o.checks for o in outcomes) / max(len(outcomes), 1),
        lag_p50_s=percentile(lags, 50),
        lag_p95_s=percentile(lags, 95),
        lag_p99_s=percentile(lags, 99),
        lag_max_s=max(lags, default=math.nan),
        pacing_violations=sum(o.violations for o in outcomes),
        timed_out=sum(o.lag_s is None for o in outcomes),
    )
