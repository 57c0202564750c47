"""The operators' side: what is in flight (`pending`), cancel, and the sweep that settles jobs
whose polling chain was lost. Each reads the in-flight index under `_jobcourier/pending/`, so
its cost grows with the jobs in flight, never with every job ever run; each ends jobs through
settling.py, as a check does. (Replay is a submission: courier.py.)
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from jobcourier import logsafe
from jobcourier.errors import BadRequest, Conflict, InfrastructureError, UnknownJob
from jobcourier.limits import LOST_CHAIN_GRACE
from jobcourier.model import (
    Answer,
    JobError,
    JobKey,
    JobRecord,
    JobState,
    PollTask,
    TaskKind,
    format_time,
    manifest_answer,
)
from jobcourier.planner import Planner
from jobcourier.ports import Ledger, QueuedTask, Scheduler, Store
from jobcourier.settling import Settle, Settler
from jobcourier.validation import parse_task

log = logging.getLogger(__name__)

LIST_PAGE = 100  # GET /jobs?state=pending without a limit
SWEEP_PAGE = 1000


class Steering:
    def __init__(
        self,
        *,
        providers: Mapping[str, object],
        scheduler: Callable[[], Scheduler],
        store: Callable[[], Store],
        ledger: Callable[[], Ledger],
        settler: Settler,
        planner: Planner,
        clock: Callable[[], datetime],
    ) -> None:
        self._providers = providers
        self._scheduler = scheduler
        self._store = store
        self._ledger = ledger
        self._settler = settler
        self._planner = planner
        self._clock = clock

    # -- GET /jobs?state=pending -----------------------------------------------------------
    def pending(self, provider: str | None, limit: int | None, page_token: str | None) -> Answer:
        """The jobs in flight, a page at a time: the in-flight entries (one listing) joined
        with what the queues hold for them (checks so far, the last status, the next check)."""
        after = _read_page_token(page_token, provider)
        page = self._ledger().list_pending(provider, after, limit or LIST_PAGE)
        queued = latest_chain_tasks(self._scheduler().queued()) if page.records else {}
        jobs = []
        for record in page.records:
            task, at = queued.get((record.key, record.chain), (None, None))
            jobs.append(
                {
                    "provider": record.key.provider,
                    "job_id": record.key.job_id,
                    "state": JobState.PENDING.value,
                    "submitted_at": _rfc3339(record.submitted_at),
                    "deadline_at": _rfc3339(record.deadline_at),
                    "checks": task.checks if task else 0,
                    "last_status": task.last_status if task else None,
                    "next_check_at": _rfc3339(at) if at else None,
                }
            )
        token = _page_token(page.after, provider) if page.after else None
        return Answer(200, {"jobs": jobs, "next_page_token": token})

    # -- POST /jobs/{provider}/{job_id}/cancel ---------------------------------------------
    def cancel(self, key: JobKey, reason: str | None) -> Answer:
        """Settle the job as canceled; its chain stops at its next check, without asking the
        provider. A job settled otherwise first keeps its manifest (409): the create-only
        manifest decides a cancel racing a delivery."""
        logsafe.set_job(key.provider, key.job_id)
        manifest = self._store().read_manifest(key)
        if manifest is None:
            record = self._ledger().read_pending(key)
            if record is None:
                raise UnknownJob(f"no job {key.job_id!r} was submitted for {key.provider}")
            error = JobError("canceled", reason or "canceled by an operator")
            checks = self._checks_made(record)
            manifest, created = self._settler.settle(
                record, Settle(JobState.CANCELED, error), checks=checks
            )
            if created:
                logsafe.event(
                    log, "job_canceled", "%s canceled: %s", key.folder, error.message,
                    reason=reason,
                )  # fmt: skip
        if manifest.state is not JobState.CANCELED:
            raise Conflict(
                f"{key.folder} is settled already: {manifest.state.value}",
                state=manifest.state.value,
                manifest=manifest.to_json(),
            )
        return manifest_answer(manifest)

    def _checks_made(self, record: JobRecord) -> int:
        """How many checks the job's chain made, from its task waiting in the queue (0 when
        none waits, or the queues cannot be read: a cancel does not wait for them)."""
        try:
            queued = latest_chain_tasks(self._scheduler().queued())
        except InfrastructureError:
            log.warning("%s: queues unreadable; the manifest counts 0 checks", record.key.folder)
            return 0
        found = queued.get((record.key, record.chain))
        return found[0].checks if found else 0

    # -- POST /sweep -----------------------------------------------------------------------
    def sweep(self) -> Answer:
        """Settle every job in flight whose deadline passed more than LOST_CHAIN_GRACE ago
        (its chain was lost) as timed_out/chain_lost, and finish settling any job a crash left
        half settled. Reads only the in-flight entries, and whole only those past the grace."""
        now = self._clock()
        grace = self._planner.scaled(LOST_CHAIN_GRACE)
        scanned = settled = 0
        after: str | None = None
        while True:
            page = self._ledger().list_pending(None, after, SWEEP_PAGE)
            for listed in page.records:
                if now <= listed.deadline_at + grace:
                    scanned += 1
                    continue
                logsafe.set_job(listed.key.provider, listed.key.job_id)
                record = self._ledger().read_pending(listed.key)  # labels, callback_url
                if record is None:
                    continue  # settled meanwhile
                manifest = self._store().read_manifest(record.key)
                if manifest is not None:  # a crash between its manifest and this entry's end
                    self._settler.finish(record, manifest, announce=True)
                    continue
                scanned += 1
                settled += self._settler.lost(record)[1]
            if page.after is None:
                break
            after = page.after
        logsafe.current_job.set(None)
        log.info("sweep: %d jobs in flight examined, %d lost chains settled", scanned, settled)
        return Answer(200, {"scanned": scanned, "settled": settled})


def latest_chain_tasks(
    queued: Iterator[QueuedTask],
) -> dict[tuple[JobKey, str], tuple[PollTask, datetime]]:
    """For each (job, chain), its chain's newest task in the queues and when it is due."""
    latest: dict[tuple[JobKey, str], tuple[PollTask, datetime]] = {}
    for item in queued:
        try:
            body = json.loads(item.body)
            task = parse_task(body) if isinstance(body, dict) else None
        except (ValueError, BadRequest):
            continue  # a callback, or not ours
        if task is None or task.kind is not TaskKind.CHAIN:
            continue
        known = latest.get((task.key, task.chain))
        if known is None or (task.seq, task.rearms) > (known[0].seq, known[0].rearms):
            latest[(task.key, task.chain)] = (task, item.at)
    return latest


def _page_token(after: str, provider: str | None) -> str:
    raw = json.dumps({"after": after, "provider": provider}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_page_token(token: str | None, provider: str | None) -> str | None:
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after = data["after"]
        ok = isinstance(after, str) and data.get("provider") == provider and len(token) < 4096
    except (ValueError, binascii.Error, TypeError, KeyError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise BadRequest("page_token must be one this function handed out, for the same provider")
    return str(after)


def _rfc3339(moment: datetime) -> str:
    return format_time(moment, timespec="seconds")
