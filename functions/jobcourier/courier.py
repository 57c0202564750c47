"""The decision logic: what a submission, a status check and a webhook lead to.

It knows the edges only through ports.py, and creates the store only when a path needs it:
a check that only reschedules never imports the storage client. Every status check ends in
one decision (`_decide`): check again later (`CheckAgain`), or settle the job (`Settle`);
`_carry_out` then does what was decided. Copying is delivery.py's; when to check, the
planner's (planner.py); every limit of time, limits.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from jobcourier import logsafe
from jobcourier.delivery import Delivery, deliver
from jobcourier.errors import (
    BadRequest,
    ConfigurationError,
    InfrastructureError,
    JobNotFound,
    NoRoute,
    ProviderAuthError,
    ProviderProtocolError,
    ProviderTransient,
    UnknownJob,
)
from jobcourier.limits import COPY_GRACE, LOST_CHAIN_GRACE, is_final_attempt
from jobcourier.model import (
    JobError,
    JobKey,
    JobState,
    Manifest,
    PollTask,
    ProviderStatus,
    Record,
    StoredFile,
    TaskKind,
    format_time,
)
from jobcourier.planner import Planner
from jobcourier.ports import Downloader, ProviderApi, Scheduler, Store
from jobcourier.providers.base import Provider
from jobcourier.validation import Submission, parse_job_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What an invocation settled on; routes.py turns it into HTTP."""

    http_status: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class CheckAgain:
    """The job goes on: check it again later, unless its time is up."""

    last_status: str
    retry_after_s: float | None = None
    auth_fault: bool = False
    copying: bool = False  # the provider said done: only the copy goes on


@dataclass(frozen=True)
class Settle:
    """The job ends: write its manifest. A job that did not succeed lists what was stored."""

    state: JobState
    error: JobError | None = None
    files: tuple[StoredFile, ...] = ()


@dataclass(frozen=True)
class AlreadySettled:
    """Another invocation wrote the manifest first: nothing more to do."""

    state: JobState


Decision = CheckAgain | Settle | AlreadySettled


class Courier:
    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        api_for: Callable[[Provider], ProviderApi],
        scheduler: Callable[[], Scheduler],
        store: Callable[[], Store],
        downloader: Callable[[], Downloader],
        planner: Planner | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.providers = providers
        self._api_for = api_for
        self._scheduler = scheduler
        self._store = store
        self._downloader = downloader
        self._planner = planner or Planner(providers)
        self._clock = clock

    # -- POST /jobs ------------------------------------------------------------------------
    def submit(self, submission: Submission) -> Answer:
        key = submission.key
        logsafe.current_job.set(key.folder)
        provider = self._provider(key.provider)
        store = self._store()
        settled = store.read_manifest(key)
        if settled is not None:
            return _manifest_answer(settled)
        marker = store.read_record(Record.SUBMITTED, key)
        now = self._clock()
        if marker is not None:
            return self._resubmitted(key, marker, now)
        task = PollTask(
            key=key,
            submitted_at=now,
            deadline_at=self._planner.deadline_at(provider, now, submission.deadline_seconds),
            labels=dict(submission.labels),
            recent=self._planner.carried(provider),
        )
        first_check = self._planner.first_check_at(provider, now)
        if store.read_record(Record.WEBHOOK, key) is not None:
            first_check = now  # the provider called back before the submission came
        self._scheduler().schedule(key.provider, key.task_id(0), task.to_bytes(), first_check)
        # The marker comes after the task: a crash in between leaves no marker, so the
        # caller's retry schedules again, and the deterministic task name absorbs it.
        store.create_record(Record.SUBMITTED, key, task.to_json())
        log.info("accepted %s, first check at %s", key.folder, format_time(first_check))
        return Answer(202, _pending_body(task.to_json()))

    def _resubmitted(self, key: JobKey, marker: Mapping[str, Any], now: datetime) -> Answer:
        task = PollTask.from_json(marker)
        if now <= task.deadline_at + LOST_CHAIN_GRACE:
            return Answer(202, {**_pending_body(marker), "duplicate": True})
        log.error("%s passed its deadline with no manifest: its polling chain was lost", key.folder)
        lost = JobError(
            "chain_lost",
            "the deadline passed and no check settled the job; "
            f"last status seen: {task.last_status!r}",
        )
        return _manifest_answer(self._write_manifest(task, Settle(JobState.TIMED_OUT, lost)))

    # -- GET /jobs/{provider}/{job_id} -----------------------------------------------------
    def status(self, key: JobKey) -> Answer:
        logsafe.current_job.set(key.folder)
        self._provider(key.provider)
        store = self._store()
        manifest = store.read_manifest(key)
        if manifest is not None:
            return _manifest_answer(manifest)
        marker = store.read_record(Record.SUBMITTED, key)
        if marker is None:
            raise UnknownJob(f"no job {key.job_id!r} was submitted for {key.provider}")
        return Answer(200, _pending_body(marker))

    # -- POST /webhooks/{provider} -----------------------------------------------------------
    def webhook(self, provider_name: str, body: Any) -> Answer:
        """A provider says a job moved: check it now, through the same path as polling.

        Nothing in the body is trusted beyond the job id: the status API decides. A job not
        submitted (yet) is recorded, and its submission checks at once; a submitted one gets a
        prompt check (TaskKind.PROMPT) beside its chain, named after the job, so that repeated
        callbacks collapse into one."""
        provider = self._provider(provider_name)
        if provider.webhook_job_id is None:
            raise NoRoute(f"{provider.name} sends no webhooks")
        key = JobKey(provider.name, parse_job_id(provider.webhook_job_id(body), provider.name))
        logsafe.current_job.set(key.folder)
        store = self._store()
        if store.read_manifest(key) is not None:
            return Answer(202, {"outcome": "already_settled"})
        marker = store.read_record(Record.SUBMITTED, key)
        now = self._clock()
        if marker is None:
            store.create_record(Record.WEBHOOK, key, {"received_at": format_time(now)})
            log.warning("webhook for %s, which was not submitted (yet): recorded", key.folder)
            return Answer(202, {"outcome": "recorded"})
        task = replace(PollTask.from_json(marker), kind=TaskKind.PROMPT)
        created = self._scheduler().schedule(
            provider.name, key.task_id(TaskKind.PROMPT.value), task.to_bytes(), now
        )
        return Answer(202, {"outcome": "check_scheduled" if created else "duplicate"})

    # -- POST /poll ------------------------------------------------------------------------
    def poll(self, task: PollTask, *, retry_count: int = 0) -> Answer:
        """One check. On the queue's final attempt a failure settles the job as failed rather
        than let Cloud Tasks drop the task silently."""
        logsafe.current_job.set(task.key.folder)
        try:
            return self._check(task)
        except BadRequest:
            raise  # not a job of ours: nothing to settle
        except Exception as exc:
            if not is_final_attempt(retry_count):
                raise
            if task.kind is TaskKind.PROMPT:  # the chain beside it goes on and settles the job
                log.exception("%s: dropping a prompt check on its final attempt", task.key.folder)
                return Answer(200, {"outcome": "dropped"})
            log.exception("%s: giving up on the queue's final attempt", task.key.folder)
            if isinstance(exc, InfrastructureError):
                code, reason = "infrastructure_unavailable", str(exc)
            else:  # a bug: its text may hold a URL or a header, so only its type is kept
                code, reason = "internal_error", f"an unexpected {exc.__class__.__name__}"
            error = JobError(code, f"{reason}; the poll task ran out of retries")
            return self._settle(
                replace(task, checks=task.checks + 1), Settle(JobState.FAILED, error)
            )

    def _check(self, task: PollTask) -> Answer:
        provider = self._provider(task.key.provider)
        task, decision = self._decide(replace(task, checks=task.checks + 1), provider)
        return self._carry_out(task, provider, decision)

    def _decide(self, task: PollTask, provider: Provider) -> tuple[PollTask, Decision]:
        """Ask the provider once and decide: check again, or settle. The task comes back with
        what the check taught (progress)."""
        try:
            api = self._api_for(provider)
            seen = provider.check(api, task.key.job_id)
        except JobNotFound as exc:
            return task, Settle(JobState.FAILED, JobError("not_found", str(exc)))
        except (ProviderAuthError, ConfigurationError) as exc:
            log.error("%s: %s; check the %s API key", task.key.folder, exc, provider.name)
            return task, CheckAgain(f"error: {exc}", auth_fault=True)
        except ProviderTransient as exc:
            log.warning("%s: %s", task.key.folder, exc)
            return task, CheckAgain(f"error: {exc}", retry_after_s=exc.retry_after_s)
        except ProviderProtocolError as exc:
            log.warning("%s: %s", task.key.folder, exc)
            return task, CheckAgain(f"error: {exc}")
        now = self._clock()
        if seen.progress is not None:
            task = task.with_progress(_seconds_between(task.submitted_at, now), seen.progress)
        if seen.status is ProviderStatus.UNKNOWN:
            log.warning(
                "%s: unrecognised status %r, still checking", task.key.folder, seen.raw_status
            )
        if seen.status in (ProviderStatus.PENDING, ProviderStatus.UNKNOWN):
            return task, CheckAgain(seen.raw_status)
        if seen.status is ProviderStatus.FAILED:
            message = seen.message or f"the provider reported {seen.raw_status!r}"
            return task, Settle(JobState.FAILED, JobError("provider_failed", message))
        self._planner.saw_done(provider, task, now)
        store = self._store()
        settled = store.read_manifest(task.key)
        if settled is not None:
            return task, AlreadySettled(settled.state)
        delivery = deliver(
            key=task.key,
            outputs=seen.outputs,
            provider=provider,
            api=api,
            store=store,
            downloader=self._downloader(),
            clock=self._clock,
        )
        return task, self._after_delivery(task, seen.raw_status, delivery)

    def _after_delivery(self, task: PollTask, raw_status: str, delivery: Delivery) -> Decision:
        if delivery.out_of_time:
            return CheckAgain(raw_status, copying=True)
        if delivery.retry and self._clock() < task.deadline_at + COPY_GRACE:
            log.warning("%s: delivery incomplete, retrying: %s", task.key.folder, delivery.retry)
            return CheckAgain(raw_status, copying=True)
        failed = delivery.failed + delivery.retry
        if not failed:
            return Settle(JobState.SUCCEEDED, files=delivery.stored)
        message = "; ".join(failed)
        if delivery.stored:
            error = JobError("some_outputs_failed", message)
            return Settle(JobState.PARTIAL, error, files=delivery.stored)
        return Settle(JobState.FAILED, JobError("no_output_delivered", message))

    def _carry_out(self, task: PollTask, provider: Provider, decision: Decision) -> Answer:
        if isinstance(decision, AlreadySettled):
            return Answer(200, {"outcome": "already_settled", "state": decision.state.value})
        if isinstance(decision, Settle):
            return self._settle(task, decision)
        if task.kind is TaskKind.PROMPT:  # the chain beside it keeps checking and the deadline
            return Answer(200, {"outcome": "checked", "status": decision.last_status})
        task = replace(task, done=task.done or decision.copying)
        now = self._clock()
        limit = task.deadline_at + (COPY_GRACE if task.done else timedelta(0))
        if now >= limit:
            return self._settle(task, self._time_is_up(task, decision))
        at = self._planner.next_check_at(
            provider,
            task,
            now,
            limit=limit,
            retry_after_s=decision.retry_after_s,
            auth_fault=decision.auth_fault,
        )
        following = replace(
            task.next(decision.last_status),
            last_check_s=round(_seconds_between(task.submitted_at, now), 3),
            recent=self._planner.carried(provider),
        )
        created = self._scheduler().schedule(
            provider.name, task.key.task_id(following.seq), following.to_bytes(), at
        )
        outcome = "rescheduled" if created else "duplicate"
        log.info(
            "%s: %s (%s), next check at %s",
            task.key.folder,
            decision.last_status,
            outcome,
            format_time(at),
        )
        return Answer(200, {"outcome": outcome, "next_check_at": format_time(at)})

    def _time_is_up(self, task: PollTask, decision: CheckAgain) -> Settle:
        """The deadline passed (and, for a job the provider finished, COPY_GRACE after it)."""
        last = decision.last_status
        if not task.done:
            message = f"still not done at the deadline; last status seen: {last!r}"
            return Settle(JobState.TIMED_OUT, JobError("deadline_passed", message))
        stored = self._stored(task.key)
        error = JobError(
            "delivery_incomplete",
            f"the copy was not done {COPY_GRACE} after the deadline; last status seen: {last!r}",
        )
        return Settle(JobState.PARTIAL if stored else JobState.FAILED, error, files=stored)

    def _settle(self, task: PollTask, decision: Settle) -> Answer:
        manifest = self._write_manifest(task, decision)
        return Answer(200, {"outcome": "settled", "state": manifest.state.value})

    def _write_manifest(self, task: PollTask, decision: Settle) -> Manifest:
        """Create the manifest, once: a second writer keeps the first one's."""
        files = decision.files
        if decision.state is not JobState.SUCCEEDED and not files:
            files = self._stored(task.key)
        manifest = Manifest(
            provider=task.key.provider,
            job_id=task.key.job_id,
            state=decision.state,
            submitted_at=task.submitted_at,
            settled_at=self._clock(),
            checks=task.checks,
            files=files,
            error=decision.error,
            labels=dict(task.labels),
        )
        store = self._store()
        if not store.create_manifest(task.key, manifest):
            log.info("%s was settled by another invocation", task.key.folder)
            return store.read_manifest(task.key) or manifest
        level = logging.INFO if decision.state is JobState.SUCCEEDED else logging.WARNING
        log.log(
            level, "%s settled: %s %s", task.key.folder, decision.state.value, decision.error or ""
        )
        return manifest

    def _stored(self, key: JobKey) -> tuple[StoredFile, ...]:
        return tuple(sorted(self._store().stored_files(key).values(), key=lambda f: f.name))

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise BadRequest(f"provider must be one of {sorted(self.providers)}. Found: {name!r}")
        return provider


def _seconds_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _manifest_answer(manifest: Manifest) -> Answer:
    return Answer(200, {"state": manifest.state.value, "manifest": manifest.to_json()})


def _pending_body(marker: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "state": JobState.PENDING.value,
        "manifest": None,
        "submitted_at": marker.get("submitted_at"),
        "deadline_at": marker.get("deadline_at"),
    }
