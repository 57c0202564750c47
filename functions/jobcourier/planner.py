"""The scheduling policy as one instance applies it: each provider's pacing with the operator's
overrides, the durations of the jobs this instance saw finish, and the local time scale.

Two faces. In provider time (seconds, as the provider's clock would show them) for the
simulator in bench/, which runs the policy without a clock. In real time (datetimes) for the
courier: `deadline_at`, `first_check_at`, `next_check_at`, `saw_done`. JOBCOURIER_DELAY_SCALE
is applied here and nowhere else: real seconds are divided by it on the way into the policy
and its answers multiplied by it on the way out.
"""

from __future__ import annotations

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
from jobcourier.policy import History, Interval

MEMORY_SAMPLES = 64  # finished jobs remembered per provider (the most recent)
MEMORY_JOBS = 4096  # running jobs whose last check this instance remembers


class Paced(Protocol):
    name: str
    pacing: Pacing


class Planner:
    """With `remember=True`, recent durations are remembered in this process only: a few
    kilobytes, never shared between instances, never persisted, lost on a cold start (the
    configured pacing applies until policy.MEMORY_MIN_SAMPLES jobs of a provider have finished
    again). Nothing a job needs to continue depends on it, so losing it costs checks or lag,
    never a job. The task carries the previous check's time, so any instance learns from a job
    that other instances checked before.
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
        self._last_check: OrderedDict[tuple[str, str], float] = OrderedDict()

    def pacing_for(self, provider: Paced) -> Pacing:
        pacing = self._pacing.get(provider.name)
        if pacing is None:
            pacing = with_overrides(provider.pacing, self._overrides.get(provider.name, {}))
        return pacing

    def recent(self, provider: str) -> tuple[Interval, ...]:
        with self._lock:
            return tuple(self._recent.get(provider, ()))

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
        self.finished(provider, task.key.job_id, self._history(task, now))

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
        return policy.first_delay(pacing, recent=self.recent(provider.name), rand=self._rand)

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
