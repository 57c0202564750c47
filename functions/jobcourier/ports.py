"""The edges the decision logic talks to, and the data that crosses them. Real edges live in
edges/, in-memory ones in tests/fakes.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from jobcourier import safejson
from jobcourier.errors import ProviderProtocolError
from jobcourier.model import JobKey, JobRecord, Manifest, StoredFile


@dataclass(frozen=True)
class ApiResponse:
    """A provider API's answer, its body already read (and capped) by the edge."""

    status_code: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body's JSON value, read within safejson's bounds (depth, digits, finite
        numbers, unique keys). Raises ProviderProtocolError: retried until the deadline."""
        try:
            return safejson.loads(self.body)
        except ValueError as exc:
            raise ProviderProtocolError(
                f"expected a JSON answer. Found {len(self.body)} bytes that are not ({exc})"
            ) from exc


class ProviderApi(Protocol):
    """A provider's API, bound to its base URL and key (edges/http.py)."""

    def get(self, path: str, params: Mapping[str, str]) -> ApiResponse:
        """Raises ProviderTransient when no answer came."""
        ...


@dataclass(frozen=True)
class QueuedTask:
    """A task waiting in (or being dispatched from) a queue: its body and when it is due."""

    body: bytes
    at: datetime


class Scheduler(Protocol):
    def schedule(self, provider: str | None, task_id: str, body: bytes, at: datetime) -> bool:
        """Create the named task on the provider's queue (None: the default queue). False when
        that name exists already (a duplicate).

        Raises InfrastructureError when the queue cannot be reached.
        """
        ...

    def queued(self) -> Iterator[QueuedTask]:
        """Every task in every queue, for listing what is in flight."""
        ...


@dataclass(frozen=True)
class Download:
    content_type: str | None
    length: int | None
    chunks: Iterator[bytes]


class Downloader(Protocol):
    def open(self, url: str, deadline: float | None = None) -> AbstractContextManager[Download]:
        """Raises DownloadTransient or DownloadRefused. With a `deadline` (a time.monotonic()
        value), a download still coming when it passes ends as a DownloadTransient, inside
        whatever read it is in."""
        ...


class CallbackSender(Protocol):
    """POSTs to callers' URLs, under the same address rules as downloads."""

    def check(self, url: str) -> None:
        """Raises BadRequest when the URL could never be called (scheme, credentials, a
        literal address that is not public); the name is resolved only when calling."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The answer's HTTP status. Raises DownloadTransient when no answer came, and
        DownloadRefused when the URL is not allowed."""
        ...


class Store(Protocol):
    """What consumers read: a job's folder, its result files and its manifest.
    Create-only writes answer False when the name is taken."""

    def read_manifest(self, key: JobKey) -> Manifest | None:
        """With its generation."""
        ...

    def create_manifest(self, key: JobKey, manifest: Manifest) -> int | None:
        """Its generation; None when a manifest exists already."""
        ...

    def delete_manifest(self, key: JobKey, generation: int) -> None:
        """Only that generation of it; gone already is fine."""
        ...

    def delete_file(self, key: JobKey, name: str) -> None: ...

    def stored_files(self, key: JobKey) -> dict[str, StoredFile]:
        """Result files already in the job's folder, by name (a crashed delivery's leftovers)."""
        ...

    def store_file(self, key: JobKey, name: str, download: Download, source: str) -> StoredFile:
        """Stream into the job's folder, create-only; verify what was stored.

        Raises DownloadTransient when the stored checksum is not what was read.
        """
        ...


@dataclass(frozen=True)
class PendingPage:
    records: tuple[JobRecord, ...]
    after: str | None  # where the next page starts (None: this was the last)


class Ledger(Protocol):
    """The function's bookkeeping under `_jobcourier/`, never inside a consumer's folder.

    jobs/{provider}/{job_id}.json      what each submission said (JobRecord), kept
    pending/{provider}/{job_id}.json   the same while the job is in flight: the index that
                                       listing and the sweep read, deleted when it settles
    history/{provider}/{job_id}/{generation}.json   manifests a replay replaced
    webhooks/{provider}/{job_id}.json  a provider's callback that came before the submission
    """

    def read_pending(self, key: JobKey) -> JobRecord | None:
        """Cheap: every check reads it (a check that only reschedules imports no storage
        client for it)."""
        ...

    def create_pending(self, record: JobRecord) -> int | None:
        """Create-only: its generation, or None when the job is in flight already."""
        ...

    def delete_pending(self, key: JobKey, generation: int) -> None:
        """Only that generation of it; gone already is fine."""
        ...

    def list_pending(
        self, provider: str | None, after: str | None, limit: int | None
    ) -> PendingPage:
        """In flight, in name order, from the metadata alone (no object is read)."""
        ...

    def read_job(self, key: JobKey) -> JobRecord | None: ...

    def write_job(self, record: JobRecord) -> None: ...

    def archive_manifest(self, manifest: Manifest) -> None:
        """Keep a manifest a replay replaces (create-only: twice is fine)."""
        ...

    def note_early_webhook(self, key: JobKey, now: datetime, *, ttl: timedelta, cap: int) -> bool:
        """Remember a callback for a job not submitted yet; forget those older than `ttl`.
        False when `cap` of them are remembered already for that provider."""
        ...

    def take_early_webhook(self, key: JobKey) -> bool:
        """Whether a callback came before this submission (and forget it)."""
        ...
