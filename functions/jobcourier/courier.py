"""The decision logic: what a submission, a status check and a delivery lead to.

It knows the edges only through ports.py, and creates the store only when a path needs it:
a check that only reschedules never imports the storage client.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from jobcourier import logsafe, naming, schedule
from jobcourier.errors import (
    BadRequest,
    DownloadExpired,
    DownloadRefused,
    DownloadTransient,
    InfrastructureError,
    JobNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderProtocolError,
    ProviderTransient,
    UnknownJob,
)
from jobcourier.model import (
    JobKey,
    Observation,
    Output,
    PollTask,
    Record,
    State,
    Status,
    StoredFile,
    format_time,
)
from jobcourier.ports import Downloader, Scheduler, Store
from jobcourier.providers.base import Provider, ProviderApi
from jobcourier.validation import Submission, parse_job_id

log = logging.getLogger(__name__)

# A job the provider finished may still be copied this long after its deadline (real time).
COPY_GRACE = timedelta(minutes=30)
# A job whose deadline passed this long ago without a manifest lost its polling chain (a task
# dropped after the queue's last retry): longer than any copy may go on.
LOST_CHAIN_GRACE = COPY_GRACE + timedelta(minutes=30)
# One invocation starts no new copy after DELIVERY_BUDGET and abandons a copy still running at
# COPY_CUTOFF (the next invocation starts it again): both well inside the tasks' dispatch
# deadline (edges/cloud_tasks.py), so an invocation always answers before Cloud Tasks gives up.
DELIVERY_BUDGET = timedelta(minutes=5)
COPY_CUTOFF = timedelta(minutes=8)
MAX_OUTPUTS = 100  # file names carry a two-digit index


@dataclass(frozen=True)
class Answer:
    """What an invocation settled on; routes.py turns it into HTTP."""

    http_status: int
    body: Mapping[str, Any]


class Courier:
    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        api_for: Callable[[Provider], ProviderApi],
        scheduler: Callable[[], Scheduler],
        store: Callable[[], Store],
        downloader: Callable[[], Downloader],
        delay_scale: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
        planner: schedule.Planner | None = None,
    ) -> None:
        self.providers = providers
        self._api_for = api_for
        self._scheduler = scheduler
        self._store = store
        self._downloader = downloader
        self._scale = delay_scale
        self._clock = clock
        self._rand = rand
        self._planner = planner or schedule.Planner()  # pacing overrides, recent durations

    # -- POST /jobs ------------------------------------------------------------------------
    def submit(self, submission: Submission) -> Answer:
        key = submission.key
        logsafe.current_job.set(key.folder)
        provider = self._provider(key.provider)
        store = self._store()
        settled = store.read_manifest(key)
        if settled is not None:
            return Answer(200, {"state": settled["state"], "manifest": settled})
        marker = store.read_record(Record.SUBMITTED, key)
        now = self._clock()
        if marker is not None:
            return self._resubmitted(key, marker, now)
        deadline_s = (
            submission.deadline_seconds or self._planner.pacing_for(provider).default_deadline_s
        )
        task = PollTask(
            key=key,
            submitted_at=now,
            deadline_at=now + self._seconds(deadline_s),
            labels=dict(submission.labels),
        )
        first_check = now + self._seconds(self._planner.first_delay(provider, rand=self._rand))
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
        if now > task.deadline_at + LOST_CHAIN_GRACE:
            log.error(
                "%s passed its deadline with no manifest: its polling chain was lost", key.folder
            )
            manifest = self._settle(
                task,
                State.TIMED_OUT,
                error=_error(
                    "chain_lost",
                    "the deadline passed and no check settled the job; "
                    f"last status seen: {task.last_status!r}",
                ),
            )
            return Answer(200, {"state": manifest["state"], "manifest": manifest})
        return Answer(202, {**_pending_body(marker), "duplicate": True})

    # -- GET /jobs/{provider}/{job_id} -----------------------------------------------------
    def status(self, key: JobKey) -> Answer:
        logsafe.current_job.set(key.folder)
        self._provider(key.provider)
        store = self._store()
        manifest = store.read_manifest(key)
        if manifest is not None:
            return Answer(200, {"state": manifest["state"], "manifest": manifest})
        marker = store.read_record(Record.SUBMITTED, key)
        if marker is None:
            raise UnknownJob(f"no job {key.job_id!r} was submitted for {key.provider}")
        return Answer(200, _pending_body(marker))

    # -- POST /webhooks/{provider} -----------------------------------------------------------
    def webhook(self, provider_name: str, body: Any) -> Answer:
        """A provider says a job moved: check it now, through the same path as polling.

        Nothing in the body is trusted beyond the job id: the status API decides."""
        provider = self._provider(provider_name)
        if provider.webhook_job_id is None:
            raise UnknownJob(f"{provider.name} sends no webhooks")
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
        task = replace(PollTask.from_json(marker), kind="webhook")
        created = self._scheduler().schedule(
            provider.name, key.task_id("webhook"), task.to_bytes(), now
        )
        return Answer(202, {"outcome": "check_scheduled" if created else "duplicate"})

    # -- POST /poll ------------------------------------------------------------------------
    def poll(self, task: PollTask, *, final_attempt: bool = False) -> Answer:
        """One check. On the queue's final attempt a failure settles the job as failed rather
        than let Cloud Tasks drop the task silently."""
        logsafe.current_job.set(task.key.folder)
        try:
            return self._check(task)
        except BadRequest:
            raise  # not a job of ours: nothing to settle
        except Exception as exc:
            if not final_attempt:
                raise
            if task.kind == "webhook":  # the polling chain beside it goes on and settles the job
                log.exception("%s: dropping a prompt check on its final attempt", task.key.folder)
                return Answer(200, {"outcome": "dropped"})
            log.exception("%s: giving up on the queue's final attempt", task.key.folder)
            if isinstance(exc, InfrastructureError):
                code, reason = "infrastructure_unavailable", str(exc)
            else:  # a bug: its text may hold a URL or a header, so only its type is kept
                code, reason = "internal_error", f"an unexpected {exc.__class__.__name__}"
            return self._settled(
                replace(task, checks=task.checks + 1),
                State.FAILED,
                error=_error(code, f"{reason}; the poll task ran out of retries"),
            )

    def _check(self, task: PollTask) -> Answer:
        provider = self._provider(task.key.provider)
        task = replace(task, checks=task.checks + 1)
        try:
            seen = provider.check(self._api_for(provider), task.key.job_id)
        except JobNotFound as exc:
            return self._settled(task, State.FAILED, error=_error("not_found", str(exc)))
        except ProviderAuthError as exc:
            log.error("%s: %s; check the %s API key", task.key.folder, exc, provider.name)
            return self._continue(task, provider, f"error: {exc}", auth_fault=True)
        except ProviderTransient as exc:
            log.warning("%s: %s", task.key.folder, exc)
            return self._continue(task, provider, f"error: {exc}", retry_after_s=exc.retry_after_s)
        except ProviderProtocolError as exc:
            log.warning("%s: %s", task.key.folder, exc)
            return self._continue(task, provider, f"error: {exc}")
        if seen.progress is not None:
            task = task.with_progress(
                self._provider_seconds_since(task.submitted_at), seen.progress
            )
        if seen.status is Status.UNKNOWN:
            log.warning(
                "%s: unrecognised status %r, still checking", task.key.folder, seen.raw_status
            )
        if seen.status in (Status.PENDING, Status.UNKNOWN):
            return self._continue(task, provider, seen.raw_status)
        if seen.status is Status.FAILED:
            message = seen.message or f"the provider reported {seen.raw_status!r}"
            return self._settled(task, State.FAILED, error=_error("provider_failed", message))
        elapsed_s = self._provider_seconds_since(task.submitted_at)
        self._planner.finished(
            provider,
            task.key.job_id,
            schedule.History(task.checks, elapsed_s, previous_check_s=task.last_check_s),
        )
        return self._deliver(task, provider, seen)

    def _continue(
        self,
        task: PollTask,
        provider: Provider,
        last_status: str,
        *,
        retry_after_s: float | None = None,
        auth_fault: bool = False,
    ) -> Answer:
        """Check again later, or end the job when its deadline has passed. A job the provider
        finished (`task.done`) has COPY_GRACE more for its copy."""
        if task.kind == "webhook":  # the chain beside it keeps checking and keeps the deadline
            return Answer(200, {"outcome": "checked", "status": last_status})
        now = self._clock()
        limit = task.deadline_at + (COPY_GRACE if task.done else timedelta(0))
        if now >= limit:
            if task.done:
                stored = sorted(self._store().stored_files(task.key).values(), key=lambda f: f.name)
                return self._settled(
                    task,
                    State.PARTIAL if stored else State.FAILED,
                    files=stored,
                    error=_error(
                        "delivery_incomplete",
                        f"the copy was not done {COPY_GRACE} "
                        f"after the deadline; last status seen: {last_status!r}",
                    ),
                )
            message = f"still not done at the deadline; last status seen: {last_status!r}"
            return self._settled(task, State.TIMED_OUT, error=_error("deadline_passed", message))
        history = schedule.History(
            checks=task.checks,
            elapsed_s=self._provider_seconds_since(task.submitted_at),
            progress=task.progress,
        )
        delay = self._planner.next_delay(
            provider,
            task.key.job_id,
            history,
            retry_after_s=retry_after_s,
            auth_fault=auth_fault,
            rand=self._rand,
        )
        ahead_s = schedule.next_check_in(
            delay,
            until_deadline_s=(limit - now).total_seconds() / self._scale,
            pacing=self._planner.pacing_for(provider),
        )
        at = now + self._seconds(ahead_s)
        following = replace(task.next(last_status), last_check_s=round(history.elapsed_s, 3))
        created = self._scheduler().schedule(
            provider.name, task.key.task_id(following.seq), following.to_bytes(), at
        )
        outcome = "rescheduled" if created else "duplicate"
        log.info(
            "%s: %s (%s), next check at %s", task.key.folder, last_status, outcome, format_time(at)
        )
        return Answer(200, {"outcome": outcome, "next_check_at": format_time(at)})

    def _deliver(self, task: PollTask, provider: Provider, seen: Observation) -> Answer:
        store = self._store()
        settled = store.read_manifest(task.key)
        if settled is not None:
            return Answer(200, {"outcome": "already_settled", "state": settled["state"]})
        present = store.stored_files(task.key)
        files: list[StoredFile] = []
        failed: list[str] = []
        retry: list[str] = []
        started = self._clock()
        copying = replace(task, done=True)
        for index, output in enumerate(seen.outputs):
            if self._clock() - started > DELIVERY_BUDGET:
                log.info(
                    "%s: time budget spent; the next invocation copies the rest", task.key.folder
                )
                return self._continue(copying, provider, seen.raw_status)
            if index >= MAX_OUTPUTS:
                failed.append(f"output {index}: more than {MAX_OUTPUTS} outputs")
                continue
            if output.error is not None:
                failed.append(f"output {index}: {output.error}")
                continue
            done = next((f for n, f in present.items() if n.startswith(f"{index:02d}.")), None)
            if done is not None:
                files.append(done)
                continue
            try:
                files.append(self._copy(store, task.key, provider, index, output, started))
            except (DownloadRefused, JobNotFound) as exc:
                failed.append(f"output {index}: {exc}")
            except (DownloadTransient, ProviderError) as exc:
                retry.append(f"output {index}: {exc}")
        if retry and self._clock() < task.deadline_at + COPY_GRACE:
            log.warning("%s: delivery incomplete, retrying: %s", task.key.folder, retry)
            return self._continue(copying, provider, seen.raw_status)
        failed += retry
        if not failed:
            return self._settled(task, State.SUCCEEDED, files=files)
        message = "; ".join(failed)
        if files:
            return self._settled(
                task, State.PARTIAL, files=files, error=_error("some_outputs_failed", message)
            )
        return self._settled(task, State.FAILED, error=_error("no_output_delivered", message))

    def _copy(
        self,
        store: Store,
        key: JobKey,
        provider: Provider,
        index: int,
        output: Output,
        started: datetime,
    ) -> StoredFile:
        """Stream one output into the bucket; an expired link is asked for once more."""
        api = self._api_for(provider)
        url = provider.resolve_url(api, output)
        try:
            return self._stream(store, key, index, url, started)
        except DownloadExpired:
            fresh = provider.resolve_url(api, output)
            if fresh == url:
                raise
            log.info("%s: output %d link expired; fetching a fresh one", key.folder, index)
            return self._stream(store, key, index, fresh, started)

    def _stream(
        self, store: Store, key: JobKey, index: int, url: str, started: datetime
    ) -> StoredFile:
        with self._downloader().open(url) as download:
            name = naming.result_name(index, download.content_type, url)
            timed = replace(download, chunks=self._cut_off(download.chunks, started))
            return store.store_file(key, name, timed, naming.public_url(url))

    def _cut_off(self, chunks: Iterator[bytes], started: datetime) -> Iterator[bytes]:
        """The chunks, until the invocation has run COPY_CUTOFF: then a transient failure
        (nothing is stored: the upload is not finished), for the next invocation to retry."""
        for chunk in chunks:
            if self._clock() - started > COPY_CUTOFF:
                raise DownloadTransient(f"copy still running {COPY_CUTOFF} into the invocation")
            yield chunk

    def _settled(self, task: PollTask, state: State, **details: Any) -> Answer:
        manifest = self._settle(task, state, **details)
        return Answer(200, {"outcome": "settled", "state": manifest["state"]})

    def _settle(
        self,
        task: PollTask,
        state: State,
        *,
        files: list[StoredFile] | tuple[StoredFile, ...] = (),
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Write the manifest, once: a second writer keeps the first one's. A job that did
        not succeed still lists what was stored of it."""
        store = self._store()
        if state is not State.SUCCEEDED and not files:
            files = sorted(store.stored_files(task.key).values(), key=lambda f: f.name)
        manifest = {
            "provider": task.key.provider,
            "job_id": task.key.job_id,
            "state": state.value,
            "submitted_at": format_time(task.submitted_at, timespec="seconds"),
            "settled_at": format_time(self._clock(), timespec="seconds"),
            "checks": task.checks,
            "files": [f.to_json() for f in files],
            "error": error,
            "labels": dict(task.labels),
        }
        if not store.create_manifest(task.key, manifest):
            log.info("%s was settled by another invocation", task.key.folder)
            return store.read_manifest(task.key) or manifest
        level = logging.INFO if state is State.SUCCEEDED else logging.WARNING
        log.log(level, "%s settled: %s %s", task.key.folder, state.value, error or "")
        return manifest

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise BadRequest(f"provider must be one of {sorted(self.providers)}. Found: {name!r}")
        return provider

    def _seconds(self, provider_seconds: float) -> timedelta:
        return timedelta(seconds=provider_seconds * self._scale)

    def _provider_seconds_since(self, moment: datetime) -> float:
        """Real seconds elapsed, in the provider's (unscaled) time."""
        return (self._clock() - moment).total_seconds() / self._scale


def _pending_body(marker: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "state": State.PENDING.value,
        "manifest": None,
        "submitted_at": marker.get("submitted_at"),
        "deadline_at": marker.get("deadline_at"),
    }


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}
