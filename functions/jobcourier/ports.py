"""The edges the decision logic talks to, and the data that crosses them. Real edges live in
edges/, in-memory ones in tests/fakes.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from jobcourier import safejson
from jobcourier.errors import ProviderProtocolError
from jobcourier.model import JobKey, Manifest, Record, StoredFile


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


class Scheduler(Protocol):
    def schedule(self, provider: str, task_id: str, body: bytes, at: datetime) -> bool:
        """Create the named poll task. False when that name exists already (a duplicate).

        Raises InfrastructureError when the queue cannot be reached.
        """
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


class Store(Protocol):
    """Results and bookkeeping in the bucket. Create-only writes answer False when taken."""

    def read_manifest(self, key: JobKey) -> Manifest | None: ...

    def create_manifest(self, key: JobKey, manifest: Manifest) -> bool: ...

    def read_record(self, kind: Record, key: JobKey) -> dict[str, Any] | None: ...

    def create_record(self, kind: Record, key: JobKey, value: Mapping[str, Any]) -> bool: ...

    def stored_files(self, key: JobKey) -> dict[str, StoredFile]:
        """Result files already in the job's folder, by name (a crashed delivery's leftovers)."""
        ...

    def store_file(self, key: JobKey, name: str, download: Download, source: str) -> StoredFile:
        """Stream into the job's folder, create-only; verify what was stored.

        Raises DownloadTransient when the stored checksum is not what was read.
        """
        ...
