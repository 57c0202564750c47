"""How a job ends, whoever ends it (a check, a cancel, the sweep): its manifest is created once
(create-only: of racing writers one wins, and the others get its manifest), and only the
invocation that created it announces it: the `job_settled` event, the callback task, and the
removal of the job's in-flight entry. A crash between the manifest and the announcement is
finished by the sweep (`finish`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from jobcourier import callbacks, logsafe
from jobcourier.model import (
    CallbackTask,
    JobError,
    JobKey,
    JobRecord,
    JobState,
    Manifest,
    StoredFile,
)
from jobcourier.ports import Ledger, Scheduler, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settle:
    """The job ends: write its manifest. A job that did not succeed lists what was stored."""

    state: JobState
    error: JobError | None = None
    files: tuple[StoredFile, ...] = ()


LOST = Settle(
    JobState.TIMED_OUT,
    JobError("chain_lost", "the deadline passed long ago and no check settled the job"),
)


class Settler:
    def __init__(
        self,
        *,
        store: Callable[[], Store],
        ledger: Callable[[], Ledger],
        scheduler: Callable[[], Scheduler],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._scheduler = scheduler
        self._clock = clock

    def settle(
        self, record: JobRecord, decision: Settle, *, checks: int = 0
    ) -> tuple[Manifest, bool]:
        """The job's manifest, and whether this call created it (and announced it)."""
        key = record.key
        files = decision.files
        if decision.state is not JobState.SUCCEEDED and not files:
            files = self.stored(key)
        manifest = Manifest(
            provider=key.provider,
            job_id=key.job_id,
            state=decision.state,
            submitted_at=record.submitted_at,
            settled_at=self._clock(),
            checks=checks,
            files=files,
            error=decision.error,
            labels=dict(record.labels),
        )
        store = self._store()
        generation = store.create_manifest(key, manifest)
        if generation is None:
            log.info("%s was settled by another invocation", key.folder)
            return store.read_manifest(key) or manifest, False
        manifest = replace(manifest, generation=generation)
        _log_settled(record, manifest)
        self.finish(record, manifest, announce=True)
        return manifest, True

    def lost(self, record: JobRecord) -> tuple[Manifest, bool]:
        """A job whose polling chain was lost (past its deadline and the grace)."""
        log.error("%s passed its deadline with no manifest: its chain was lost", record.key.folder)
        return self.settle(record, LOST)

    def finish(self, record: JobRecord, manifest: Manifest, *, announce: bool) -> None:
        """After the manifest: the callback (when `announce`), then the in-flight entry goes."""
        if announce and record.callback_url and manifest.generation is not None:
            task = CallbackTask(
                key=record.key,
                chain=record.chain,
                url=record.callback_url,
                webhook_id=callbacks.webhook_id(record.key, record.chain),
                first_at=self._clock(),
                generation=manifest.generation,
            )
            self._scheduler().schedule(None, task.task_id, task.to_bytes(), task.first_at)
        if record.generation is not None:
            self._ledger().delete_pending(record.key, record.generation)

    def stored(self, key: JobKey) -> tuple[StoredFile, ...]:
        return tuple(sorted(self._store().stored_files(key).values(), key=lambda f: f.name))


def _log_settled(record: JobRecord, manifest: Manifest) -> None:
    error = manifest.error
    logsafe.event(
        log,
        "job_settled",
        "%s settled: %s %s",
        record.key.folder,
        manifest.state.value,
        error.message if error else "",
        level=logging.INFO if manifest.state is JobState.SUCCEEDED else logging.WARNING,
        state=manifest.state.value,
        error_code=error.code if error else None,
        checks=manifest.checks,
        files=len(manifest.files),
        bytes=manifest.bytes,
        duration_s=round((manifest.settled_at - record.submitted_at).total_seconds(), 3),
    )
