"""The scheduling policy as one instance applies it: each provider's pacing with the operator's
overrides, the durations of the jobs this instance saw finish, and the local time scale.

Two faces. In provider time (seconds, as the provider's clock would show them) for the
simulator in bench/, which runs the policy without a clock. In real time (datetimes) for the
courier: `deadline_at`, `first_check_at`, `next_check_at`, `saw_done`. JOBCOURIER_DELAY_SCALE
is applied here and nowhere else: real seconds are divided by it on the way into the policy
and its answers multiplied by it on the way out.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from jobcourier import policy
from jobcourier.errors import ConfigurationError
from jobcourier.model import PollTask
from jobcourier.pacing import Overrides, Pacing, with_overrides
from jobcourier.policy import Durations, History, Interval

MEMORY_SAMPLES = 64  # finished jobs remembered per provider (the most recent)
CARRIED_SAMPLES = 24  # of them, the most recent a task carries to the instance checking next
MEMORY_JOBS = 4096  # running jobs whose last check this instance remembers
QUEUED_SAMPLES = 16  # finished jobs whose progress told how far it ran behind the clock ...
QUEUED_MIN_SAMPLES = 3  # ... of which the policy needs this many before it reads one sample


class Paced(Protocol):
    name: str
    pacing: Pacing


class Planner:
    """With `remember=True`, recent durations are remembered in this process: a few
    kilobytes, never persisted, lost on a cold start. Every task the instance writes carries
    its most recent ones (`carried`, CARRIED_SAMPLES of them), and an instance that knows
    fewer than a task carries takes them (`adopt`): a cold instance, or one that saw few of a
    provider's jobs finish, learns from the first task it checks rather than from its own
    next few jobs (docs/scheduling.md, "Where the memory lives", for the figures). Nothing a
    job needs to continue depends on it, so losing it costs checks or lag, never a job. The
    task also carries the previous check's time, so any instance learns from a job that other
    instances checked before.
    """

    def __init__(
        self,
        providers: Mapping[str, Paced] | None = None,
        overrides: Overrides | None = None,
        *,
        remember: bool = False,
        scale: float = 1.0,
        rand: Callable[[], float] = random.random,
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
        self._scale = scale
        self._rand = rand
        self._lock = threading.Lock()
        self._recent: dict[str, deque[Interval]] = {}
        self._durations: dict[str, Durations] = {}  # of _recent, built once per change
        self._queued: dict[str, deque[float]] = {}  # policy.queued_share of finished jobs
        self._last_check: OrderedDict[tuple[str, str], float] = OrderedDict()

    def pacing_for(self, provider: Paced) -> Pacing:
        pacing = self._pacing.get(provider.name)
        if pacing is None:
            pacing = with_overrides(provider.pacing, self._overrides.get(provider.name, {}))
        return pacing

    def recent(self, provider: str) -> tuple[Interval, ...]:
        with self._lock:
            return tuple(self._recent.get(provider, ()))

    def carry(self, provider: str) -> tuple[Interval, ...]:
        """The most recent durations, for the next task of a job of this provider to carry."""
        with self._lock:
            recent = self._recent.get(provider, ())
            return tuple(recent)[-CARRIED_SAMPLES:] if self._remember else ()

    def adopt(self, provider: str, carried: tuple[Interval, ...]) -> None:
        """Durations a task carried: taken when this instance knows fewer (a cold start, or an
        instance that saw few of this provider's jobs finish), its own newer ones kept after."""
        if not (self._remember and carried):
            return
        with self._lock:
            recent = self._recent.get(provider)
            if recent is not None and len(recent) >= len(carried):
                return
            own = [i for i in recent or () if i not in carried]
            self._recent[provider] = deque((*carried, *own), maxlen=MEMORY_SAMPLES)
            self._durations.pop(provider, None)

    def durations(self, provider: str) -> Durations | None:
        """The recent durations as the policy reads them (None: nothing remembered)."""
        with self._lock:
            known = self._durations.get(provider)
            if known is None and self._recent.get(provider):
                known = self._durations[provider] = Durations.of(self._recent[provider])
            return known

    def queued_share(self, provider: str) -> float | None:
        """How far the progress of this provider's jobs runs behind the clock (the share of
        a job that passes before its progress moves), as the policy assumes it: the least of
        the recent finished jobs that told it, so that a job whose progress ran behind by more
        is checked a little late rather than early; None until QUEUED_MIN_SAMPLES told it."""
        with self._lock:
            shares = self._queued.get(provider, ())
            return min(shares) if len(shares) >= QUEUED_MIN_SAMPLES else None

    # -- real time: the courier's face ----------------------------------------------------------
    def deadline_at(
        self, provider: Paced, submitted_at: datetime, requested_s: float | None
    ) -> datetime:
        """The deadline a submission asked for, else the provider's default."""
        seconds = requested_s or self.pacing_for(provider).default_deadline_s
        return submitted_at + self._real(seconds)

    def first_check_at(self, provider: Paced, submitted_at: datetime) -> datetime:
        return submitted_at + self._real(self.first_delay(provider))

    def next_check_at(
        self,
        provider: Paced,
        task: PollTask,
        now: datetime,
        *,
        limit: datetime,
        retry_after_s: float | None = None,
        auth_fault: bool = False,
    ) -> datetime:
        """When to check a running job again, given the check made `now`; the last check lands
        on `limit`, unless the minimum interval asks for later. Notes that the job ran."""
        self._adopt_from(provider, task)
        ahead_s = self.next_check_in(
            provider,
            task.key.job_id,
            self._history(task, now),
            until_deadline_s=self._provider_s(limit - now),
            retry_after_s=retry_after_s,
            auth_fault=auth_fault,
        )
        return now + self._real(ahead_s)

    def saw_done(self, provider: Paced, task: PollTask, now: datetime) -> None:
        """The check made `now` found the job done: remember how long it took."""
        self._adopt_from(provider, task)
        self.finished(provider, task.key.job_id, self._history(task, now))

    def carried(self, provider: Paced) -> tuple[tuple[float, float], ...]:
        """What the next task of a job of this provider carries: the recent durations (real
        seconds, rounded to 0.1 s), for whichever instance checks it next."""
        scale = self._scale
        return tuple(
            (round(lo * scale, 1), round(hi * scale, 1)) for lo, hi in self.carry(provider.name)
        )

    def _adopt_from(self, provider: Paced, task: PollTask) -> None:
        scale = self._scale
        carried = tuple(
            (lo / scale, hi / scale)
            for lo, hi in task.recent
            if math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi
        )
        self.adopt(provider.name, carried)

    def _history(self, task: PollTask, now: datetime) -> History:
        scale = self._scale
        return History(
            checks=task.checks,
            elapsed_s=self._provider_s(now - task.submitted_at),
            progress=tuple((t / scale, f) for t, f in task.progress),
            previous_check_s=None if task.last_check_s is None else task.last_check_s / scale,
        )

    def scaled(self, delay: timedelta) -> timedelta:
        """A delay of the product (a grace, a retry) in this instance's real time."""
        return delay * self._scale

    def _real(self, provider_s: float) -> timedelta:
        return timedelta(seconds=provider_s * self._scale)

    def _provider_s(self, real: timedelta) -> float:
        return real.total_seconds() / self._scale

    # -- provider time: the policy's face (and the simulator's) ---------------------------------
    def first_delay(self, provider: Paced) -> float:
        pacing = self.pacing_for(provider)
        return policy.first_delay(pacing, durations=self.durations(provider.name), rand=self._rand)

    def next_check_in(
        self,
        provider: Paced,
        job_id: str,
        history: History,
        *,
        until_deadline_s: float,
        retry_after_s: float | None = None,
        auth_fault: bool = False,
    ) -> float:
        """`policy.next_check_in` with this instance's memory; notes that the job was running."""
        if self._remember and retry_after_s is None and not auth_fault:
            self._note((provider.name, job_id), history.elapsed_s, finished=False)
        return policy.next_check_in(
            self.pacing_for(provider),
            history,
            until_deadline_s=until_deadline_s,
            retry_after_s=retry_after_s,
            auth_fault=auth_fault,
            rand=self._rand,
            durations=self.durations(provider.name),
            queued=self.queued_share(provider.name),
        )

    def finished(self, provider: Paced, job_id: str, history: History) -> None:
        """A check saw the job done: it finished after the previous check and by this one.
        The previous check's time comes from this instance's memory or, when another instance
        made it, from the task; without either the job teaches nothing. Its progress, when it
        reported some, tells how far progress runs behind the clock (`queued_share`)."""
        if not self._remember:
            return
        before = self._note((provider.name, job_id), history.elapsed_s, finished=True)
        if before == _FINISHED:
            return  # counted already (a duplicate delivery, or a copy that goes on)
        share = policy.queued_share(history.progress)
        if share is not None:
            with self._lock:
                self._queued.setdefault(provider.name, deque(maxlen=QUEUED_SAMPLES)).append(share)
        lo = 0.0 if history.checks <= 1 else before
        if lo is None:
            lo = history.previous_check_s
        if lo is None or not lo < history.elapsed_s:
            return
        with self._lock:
            recent = self._recent.setdefault(provider.name, deque(maxlen=MEMORY_SAMPLES))
            recent.append((round(lo, 3), round(history.elapsed_s, 3)))
            self._durations.pop(provider.name, None)

    def _note(self, job: tuple[str, str], elapsed_s: float, *, finished: bool) -> float | None:
        """Record this check of a job; answer what was recorded before (None: nothing)."""
        with self._lock:
            before = self._last_check.pop(job, None)
            self._last_check[job] = _FINISHED if finished or before == _FINISHED else elapsed_s
            if len(self._last_check) > MEMORY_JOBS:
                self._last_check.popitem(last=False)
            return before


_FINISHED = -1.0  # in Planner._last_check: the job was counted already
