"""The edges the courier talks to. Real ones live in edges/, in-memory ones in tests/fakes.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jobcourier.model import JobKey, Record, StoredFile


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
    def open(self, url: str) -> AbstractContextManager[Download]:
        """Raises DownloadTransient or DownloadRefused."""
        ...


class Store(Protocol):
    """Results and bookkeeping in the bucket. Create-only writes answer False when taken."""

    def read_manifest(self, key: JobKey) -> dict[str, Any] | None: ...

    def create_manifest(self, key: JobKey, manifest: Mapping[str, Any]) -> bool: ...

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
