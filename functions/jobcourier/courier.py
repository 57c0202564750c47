"""The decision logic: what a submission, a status check, a webhook and an operator's request
lead to.

It knows the edges only through ports.py, and creates each edge only when a path needs it: a
check that only reschedules never imports the storage client. Every status check ends in one
decision (`_decide`): check again later (`CheckAgain`), or settle the job (`Settle`);
`_carry_out` then does what was decided. Copying is delivery.py's; when to check, the
planner's; every limit of time, limits.py's; callbacks, callbacks.py's.

A job is in flight while its entry under `_jobcourier/pending/` exists; that entry names the
polling chain in charge (a replay starts a new one). Each check reads it first: a canceled,
settled or replayed job stops its old chain there, without asking the provider. Settling
writes the manifest (create-only: one writer wins), then announces it (the `job_settled`
event, a callback) and removes the pending entry; the sweep finishes what a crash left undone.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from jobcourier import logsafe
from jobcourier.callbacks import Callbacks
from jobcourier.delivery import Delivery, deliver
from jobcourier.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    InfrastructureError,
    JobNotFound,
    NoRoute,
    ProviderAuthError,
    ProviderProtocolError,
    ProviderTransient,
    Throttled,
    UnknownJob,
)
from jobcourier.limits import (
    COPY_GRACE,
    EARLY_WEBHOOK_TTL,
    EARLY_WEBHOOKS_CAP,
    LOST_CHAIN_GRACE,
    REARM_DELAY,
    RECREATE_FIRST_TASK_WITHIN,
    is_final_attempt,
)
from jobcourier.model import (
    Answer,
    JobError,
    JobKey,
    JobRecord,
    JobState,
    Manifest,
    PollTask,
    ProviderStatus,
    TaskKind,
    format_time,
    manifest_answer,
)
from jobcourier.planner import Planner
from jobcourier.ports import (
    CallbackSender,
    Downloader,
    Ledger,
    ProviderApi,
    Scheduler,
    Store,
)
from jobcourier.providers.base import Provider
from jobcourier.settling import Settle, Settler
from jobcourier.steering import Steering
from jobcourier.text import shorten
from jobcourier.validation import Submission, parse_job_id

log = logging.getLogger(__name__)

LIST_PAGE = 100  # GET /jobs?state=pending without a limit


@dataclass(frozen=True)
class CheckAgain:
    """The job goes on: check it again later, unless its time is up."""

    last_status: str
    retry_after_s: float | None = None
    auth_fault: bool = False
    copying: bool = False  # the provider said done: only the copy goes on


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
        ledger: Callable[[], Ledger],
        downloader: Callable[[], Downloader],
        sender: Callable[[], CallbackSender],
        planner: Planner | None = None,
        callback_secret: bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.providers = providers
        self._api_for = api_for
        self._scheduler = scheduler
        self._store = store
        self._ledger = ledger
        self._downloader = downloader
        self._planner = planner or Planner(providers)
        self._clock = clock
        self.settler = Settler(store=store, ledger=ledger, scheduler=scheduler, clock=clock)
        self.steering = Steering(
            providers=providers,
            scheduler=scheduler,
            store=store,
            ledger=ledger,
            settler=self.settler,
            planner=self._planner,
            clock=clock,
        )
        self.callbacks = Callbacks(
            secret=callback_secret,
            store=store,
            sender=sender,
            scheduler=scheduler,
            clock=clock,
            scaled=self._planner.scaled,
        )

    # -- POST /jobs ------------------------------------------------------------------------
    def submit(self, submission: Submission) -> Answer:
        key = submission.key
        logsafe.set_job(key.provider, key.job_id)
        provider = self._provider(key.provider)
        if submission.callback_url is not None:
            self.callbacks.check_url(submission.callback_url)
        settled = self._store().read_manifest(key)
        if settled is not None and submission.replay:
            return self._replay(submission, provider, settled)
        if settled is not None:
            return manifest_answer(settled)
        now = self._clock()
        record = JobRecord(
            key=key,
            chain=_new_chain(),
            submitted_at=now,
            deadline_at=self._planner.deadline_at(provider, now, submission.deadline_seconds),
            labels=dict(submission.labels),
            deadline_s=submission.deadline_seconds,
            callback_url=submission.callback_url,
        )
        ledger = self._ledger()
        generation = ledger.create_pending(record)
        if generation is None:
            return self._resubmitted(key, provider, now)
        first_check = self._planner.first_check_at(provider, now)
        if ledger.take_early_webhook(key):
            first_check = now  # the provider called back before the submission came
        try:
            self._start_chain(provider, record, first_check)
        except InfrastructureError:
            ledger.delete_pending(key, generation)  # nothing in flight; the caller retries
            raise
        ledger.write_job(record)
        logsafe.event(
            log,
            "job_submitted",
            "accepted %s, first check at %s",
            key.folder,
            format_time(first_check),
            deadline_at=_rfc3339(record.deadline_at),
        )
        return Answer(202, _pending_body(record))

    def _resubmitted(self, key: JobKey, provider: Provider, now: datetime) -> Answer:
        """The job is in flight already: never a second chain. A submission retried soon after
        a crash between the pending entry and the first task creates that task (its name
        absorbs it when it exists); one long past the deadline settles a lost chain."""
        record = self._ledger().read_pending(key)
        if record is None:  # settled in between
            settled = self._store().read_manifest(key)
            if settled is None:
                raise InfrastructureError(f"{key.folder} changed while submitted; retry")
            return manifest_answer(settled)
        if now > record.deadline_at + self._planner.scaled(LOST_CHAIN_GRACE):
            return manifest_answer(self.settler.lost(record)[0])
        if now - record.submitted_at < RECREATE_FIRST_TASK_WITHIN:
            self._ledger().write_job(record)
            self._start_chain(provider, record, self._planner.first_check_at(provider, now))
        return Answer(202, {**_pending_body(record), "duplicate": True})

    def _replay(self, submission: Submission, provider: Provider, settled: Manifest) -> Answer:
        """Run a job that ended otherwise than succeeded again, under a new chain: the old
        manifest is kept under the bookkeeping prefix and leaves the folder first; stored files
        that match it are kept. Of concurrent replays, the one whose pending entry is created
        starts the chain; the others answer as duplicates."""
        key = submission.key
        if settled.state is JobState.SUCCEEDED:
            raise Conflict(
                f"{key.folder} succeeded: there is nothing to replay",
                state=settled.state.value,
                manifest=settled.to_json(),
            )
        ledger, store, now = self._ledger(), self._store(), self._clock()
        before = ledger.read_job(key)
        deadline_s = submission.deadline_seconds or (before.deadline_s if before else None)
        record = JobRecord(
            key=key,
            chain=_new_chain(),
            submitted_at=now,
            deadline_at=self._planner.deadline_at(provider, now, deadline_s),
            labels=dict(submission.labels or (before.labels if before else settled.labels)),
            deadline_s=deadline_s,
            callback_url=submission.callback_url or (before.callback_url if before else None),
            replaces=settled.generation,
        )
        ledger.archive_manifest(settled)
        duplicate = False
        if ledger.create_pending(record) is None:
            current = ledger.read_pending(key)
            if current is not None and current.replaces == settled.generation:
                record, duplicate = current, True  # another replay of this manifest won
            else:
                if current is not None:  # a settled chain's leftover (a crash after its manifest)
                    self.settler.finish(current, settled, announce=False)
                if ledger.create_pending(record) is None:
                    raise InfrastructureError(f"{key.folder} is being replayed; retry")
        ledger.write_job(record)
        if settled.generation is not None:
            store.delete_manifest(key, settled.generation)
        if not duplicate:  # the winner's chain may be storing fresh files by now
            self._keep_matching_files(key, settled)
        self._start_chain(provider, record, self._planner.first_check_at(provider, now))
        if not duplicate:
            logsafe.event(
                log,
                "job_replayed",
                "%s replayed (it had ended %s)",
                key.folder,
                settled.state.value,
                deadline_at=_rfc3339(record.deadline_at),
                previous_state=settled.state.value,
            )
        body = {**_pending_body(record), "replayed": True}
        return Answer(202, {**body, "duplicate": True} if duplicate else body)

    def _keep_matching_files(self, key: JobKey, settled: Manifest) -> None:
        """Files the old manifest lists with the same size and checksum stay; any other file
        in the folder goes, so the new chain fetches it again."""
        listed = {(f.name, f.size, f.crc32c) for f in settled.files}
        store = self._store()
        for name, stored in store.stored_files(key).items():
            if (name, stored.size, stored.crc32c) not in listed:
                store.delete_file(key, name)

    def _start_chain(self, provider: Provider, record: JobRecord, at: datetime) -> None:
        first = replace(record.first_task(), recent=self._planner.carried(provider))
        self._scheduler().schedule(provider.name, first.task_id, first.to_bytes(), at)

    # -- GET /jobs/{provider}/{job_id} -----------------------------------------------------
    def status(self, key: JobKey) -> Answer:
        logsafe.set_job(key.provider, key.job_id)
        self._provider(key.provider)
        manifest = self._store().read_manifest(key)
        if manifest is not None:
            return manifest_answer(manifest)
        record = self._ledger().read_pending(key)
        if record is None:
            raise UnknownJob(f"no job {key.job_id!r} was submitted for {key.provider}")
        return Answer(200, _pending_body(record))

    # -- POST /webhooks/{provider} -----------------------------------------------------------
    def webhook(self, provider_name: str, body: Any) -> Answer:
        """A provider says a job moved: check it now, through the same path as polling.

        Nothing in the body is trusted beyond the job id: the status API decides. A job not
        submitted (yet) is remembered for a while (at most EARLY_WEBHOOKS_CAP per provider),
        and its submission checks at once; a submitted one gets a prompt check
        (TaskKind.PROMPT) beside its chain, named after the job, so that repeated callbacks
        collapse into one."""
        provider = self._provider(provider_name)
        if provider.webhook_job_id is None:
            raise NoRoute(f"{provider.name} sends no webhooks")
        key = JobKey(provider.name, parse_job_id(provider.webhook_job_id(body), provider.name))
        logsafe.set_job(key.provider, key.job_id)
        if self._store().read_manifest(key) is not None:
            return Answer(202, {"outcome": "already_settled"})
        ledger, now = self._ledger(), self._clock()
        record = ledger.read_pending(key)
        if record is None:
            ttl = self._planner.scaled(EARLY_WEBHOOK_TTL)
            if not ledger.note_early_webhook(key, now, ttl=ttl, cap=EARLY_WEBHOOKS_CAP):
                raise Throttled(
                    f"{EARLY_WEBHOOKS_CAP} webhooks for {provider.name} jobs not submitted yet "
                    "are waiting already; try again later"
                )
            log.warning("webhook for %s, which was not submitted (yet): noted", key.folder)
            return Answer(202, {"outcome": "recorded"})
        task = replace(
            record.first_task(), kind=TaskKind.PROMPT, recent=self._planner.carried(provider)
        )
        created = self._scheduler().schedule(provider.name, task.task_id, task.to_bytes(), now)
        return Answer(202, {"outcome": "check_scheduled" if created else "duplicate"})

    # -- POST /poll ------------------------------------------------------------------------
    def poll(self, task: PollTask, *, retry_count: int = 0) -> Answer:
        """One check. On the queue's final attempt a failure that may pass (an outage) is
        given a new task, later, while the deadline allows; only then is the job settled as
        failed rather than let Cloud Tasks drop the task silently."""
        logsafe.set_job(task.key.provider, task.key.job_id)
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
            if isinstance(exc, InfrastructureError):
                rearmed = self._rearm(task)
                if rearmed is not None:
                    log.warning(
                        "%s: the queue gave up on this check (%s); checking again at %s",
                        task.key.folder,
                        exc,
                        rearmed,
                    )
                    return Answer(200, {"outcome": "rearmed", "next_check_at": rearmed})
            log.exception("%s: giving up on the queue's final attempt", task.key.folder)
            return self._give_up(task, exc)

    def _rearm(self, task: PollTask) -> str | None:
        """The same check as a new task (a new name), REARM_DELAY later, if that is before the
        job's limit; None when it is not, or cannot be scheduled either."""
        now = self._clock()
        at = now + self._planner.scaled(REARM_DELAY)
        grace = self._planner.scaled(COPY_GRACE) if task.done else timedelta(0)
        if at >= task.deadline_at + grace:
            return None
        again = replace(task, rearms=task.rearms + 1)
        try:
            self._scheduler().schedule(task.key.provider, again.task_id, again.to_bytes(), at)
        except InfrastructureError:
            return None
        return format_time(at)

    def _give_up(self, task: PollTask, exc: Exception) -> Answer:
        if isinstance(exc, InfrastructureError):
            code, reason = "infrastructure_unavailable", str(exc)
        else:  # a bug: its text may hold a URL or a header, so only its type is kept
            code, reason = "internal_error", f"an unexpected {exc.__class__.__name__}"
        record = self._ledger().read_pending(task.key)
        if record is None or record.chain != task.chain:
            return Answer(200, {"outcome": "stopped"})
        error = JobError(code, f"{reason}; the poll task ran out of retries")
        decision = Settle(JobState.FAILED, error)
        return self._settle(record, replace(task, checks=task.checks + 1), decision)

    def _check(self, task: PollTask) -> Answer:
        provider = self._provider(task.key.provider)
        record = self._ledger().read_pending(task.key)
        if record is None or record.chain != task.chain:
            log.info("%s is no longer in flight under this chain: stopped", task.key.folder)
            return Answer(200, {"outcome": "stopped"})
        task, decision, word = self._decide(replace(task, checks=task.checks + 1), provider)
        return self._carry_out(task, record, provider, decision, word)

    def _decide(self, task: PollTask, provider: Provider) -> tuple[PollTask, Decision, str | None]:
        """Ask the provider once and decide: check again, or settle. The task comes back with
        what the check taught (progress), and the provider's status word (None: no answer)."""
        try:
            api = self._api_for(provider)
            seen = provider.check(api, task.key.job_id)
        except JobNotFound as exc:
            return task, Settle(JobState.FAILED, JobError("not_found", str(exc))), None
        except (ProviderAuthError, ConfigurationError) as exc:
            logsafe.event(
                log,
                "provider_key_rejected",
                "%s: %s; check the %s API key",
                task.key.folder,
                exc,
                provider.name,
                level=logging.ERROR,
                http_status=getattr(exc, "http_status", None),
            )
            return task, CheckAgain(f"error: {exc}", auth_fault=True), None
        except ProviderTransient as exc:
            log.warning("%s: %s", task.key.folder, exc)
            return task, CheckAgain(f"error: {exc}", retry_after_s=exc.retry_after_s), None
        except ProviderProtocolError as exc:
            log.warning("%s: %s", task.key.folder, exc)
            return task, CheckAgain(f"error: {exc}"), None
        # Provider text, cut short: a long word would be carried into every log line,
        # task and manifest that names the status.
        now, word = self._clock(), shorten(seen.raw_status)  # providers cut it; so does this
        if seen.progress is not None:
            task = task.with_progress(_seconds_between(task.submitted_at, now), seen.progress)
        if seen.status is ProviderStatus.UNKNOWN:
            logsafe.event(
                log,
                "status_unrecognised",
                "%s: unrecognised status %r, still checking",
                task.key.folder,
                word,
                level=logging.WARNING,
                status=word,
            )
        if seen.status in (ProviderStatus.PENDING, ProviderStatus.UNKNOWN):
            return task, CheckAgain(word), word
        if seen.status is ProviderStatus.FAILED:
            message = seen.message or f"the provider reported {word!r}"
            return task, Settle(JobState.FAILED, JobError("provider_failed", message)), word
        self._planner.saw_done(provider, task, now)
        store = self._store()
        settled = store.read_manifest(task.key)
        if settled is not None:
            return task, AlreadySettled(settled.state), word
        delivery = deliver(
            key=task.key,
            outputs=seen.outputs,
            provider=provider,
            api=api,
            store=store,
            downloader=self._downloader(),
            clock=self._clock,
        )
        return task, self._after_delivery(task, word, delivery), word

    def _after_delivery(self, task: PollTask, raw_status: str, delivery: Delivery) -> Decision:
        if delivery.out_of_time:
            return CheckAgain(raw_status, copying=True)
        grace = self._planner.scaled(COPY_GRACE)
        if delivery.retry and self._clock() < task.deadline_at + grace:
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

    def _carry_out(
        self,
        task: PollTask,
        record: JobRecord,
        provider: Provider,
        decision: Decision,
        word: str | None,
    ) -> Answer:
        if isinstance(decision, AlreadySettled):
            self._checked(word, "duplicate")
            return Answer(200, {"outcome": "already_settled", "state": decision.state.value})
        if isinstance(decision, CheckAgain) and task.kind is TaskKind.PROMPT:
            # the chain beside it keeps checking and keeps the deadline
            return Answer(200, {"outcome": "checked", "status": decision.last_status})
        if isinstance(decision, CheckAgain):
            task = replace(task, done=task.done or decision.copying)
            now = self._clock()
            grace = self._planner.scaled(COPY_GRACE) if task.done else timedelta(0)
            limit = task.deadline_at + grace
            if now < limit:
                return self._check_again(task, provider, decision, word, now, limit)
            decision = self._time_is_up(task, decision)
        self._checked(word, "settled")
        return self._settle(record, task, decision)

    def _check_again(
        self,
        task: PollTask,
        provider: Provider,
        decision: CheckAgain,
        word: str | None,
        now: datetime,
        limit: datetime,
    ) -> Answer:
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
            provider.name, following.task_id, following.to_bytes(), at
        )
        outcome = "duplicate" if not created else "delivering" if task.done else "rescheduled"
        self._checked(word, outcome, next_check_in_s=round(_seconds_between(now, at), 3))
        return Answer(200, {"outcome": outcome, "next_check_at": format_time(at)})

    def _checked(
        self, word: str | None, outcome: str, next_check_in_s: float | None = None
    ) -> None:
        logsafe.event(
            log,
            "job_checked",
            "checked: %s (%s)",
            word,
            outcome,
            status=word,
            outcome=outcome,
            next_check_in_s=next_check_in_s,
        )

    def _time_is_up(self, task: PollTask, decision: CheckAgain) -> Settle:
        """The deadline passed (and, for a job the provider finished, COPY_GRACE after it)."""
        last = decision.last_status
        if not task.done:
            message = f"still not done at the deadline; last status seen: {last!r}"
            return Settle(JobState.TIMED_OUT, JobError("deadline_passed", message))
        stored = self.settler.stored(task.key)
        error = JobError(
            "delivery_incomplete",
            f"the copy was not done {COPY_GRACE} after the deadline; last status seen: {last!r}",
        )
        return Settle(JobState.PARTIAL if stored else JobState.FAILED, error, files=stored)

    def _settle(self, record: JobRecord, task: PollTask, decision: Settle) -> Answer:
        manifest, _ = self.settler.settle(record, decision, checks=task.checks)
        return Answer(200, {"outcome": "settled", "state": manifest.state.value})

    # -- small pieces ----------------------------------------------------------------------
    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise BadRequest(f"provider must be one of {sorted(self.providers)}. Found: {name!r}")
        return provider


def _new_chain() -> str:
    return secrets.token_hex(4)


def _seconds_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _rfc3339(moment: datetime) -> str:
    return format_time(moment, timespec="seconds")


def _pending_body(record: JobRecord) -> dict[str, Any]:
    return {
        "state": JobState.PENDING.value,
        "manifest": None,
        "submitted_at": format_time(record.submitted_at),
        "deadline_at": format_time(record.deadline_at),
    }
