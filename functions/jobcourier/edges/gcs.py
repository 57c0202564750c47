"""The results bucket through google-cloud-storage: the only module that imports it.

{provider}/{job_id}/00.png ... manifest.json     what consumers read (GcsStore)
_jobcourier/...                                  the function's bookkeeping (edges/ledger.py,
                                                 which writes and lists through `Objects`)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage import Blob, Client
from google.cloud.storage.exceptions import DataCorruption
from google.cloud.storage.retry import DEFAULT_RETRY

from jobcourier.errors import DownloadError, DownloadTransient, InfrastructureError
from jobcourier.model import JobKey, Manifest, StoredFile
from jobcourier.naming import content_type_for, disposition_for
from jobcourier.ports import Download

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Resumable upload chunk: the most a copy holds in memory (a multiple of 256 KiB).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# GCS unreachable for this long: answer 503 and let Cloud Tasks retry with its own backoff,
# rather than hold the invocation for the client's default two minutes.
RETRY = DEFAULT_RETRY.with_timeout(10.0)
TIMEOUT = (5.0, 60.0)


@dataclass(frozen=True)
class Listed:
    name: str
    generation: int
    metadata: Mapping[str, str]
    created: datetime


class Objects:
    """JSON objects in the bucket: read, create-only or overwrite, delete one generation,
    list a prefix in name order."""

    def __init__(self, client: Client, bucket_name: str) -> None:
        self._bucket = client.bucket(bucket_name)
        self._client = client

    @classmethod
    def from_bucket_name(cls, bucket_name: str) -> Self:
        # STORAGE_EMULATOR_HOST, when set, is read by the client itself.
        return cls(Client(), bucket_name)

    def read_json(self, name: str) -> tuple[dict[str, Any], int] | None:
        with _translated("read"):
            blob = self._bucket.get_blob(name, retry=RETRY, timeout=TIMEOUT)
            if blob is None:
                return None
            raw = blob.download_as_bytes(retry=RETRY, timeout=TIMEOUT)
        data: dict[str, Any] = json.loads(raw)
        return data, int(blob.generation)

    def create_json(
        self, name: str, value: Mapping[str, Any], metadata: Mapping[str, str] | None = None
    ) -> int | None:
        """Create-only: the new generation, or None when the name is taken."""
        try:
            return self._write_json(name, value, metadata, if_generation_match=0)
        except api_exceptions.PreconditionFailed:
            return None

    def write_json(self, name: str, value: Mapping[str, Any]) -> int:
        return self._write_json(name, value, None, if_generation_match=None)

    def _write_json(
        self,
        name: str,
        value: Mapping[str, Any],
        metadata: Mapping[str, str] | None,
        *,
        if_generation_match: int | None,
    ) -> int:
        blob = self._bucket.blob(name)
        if metadata:
            blob.metadata = dict(metadata)
        body = json.dumps(value, indent=2, sort_keys=True).encode()
        with _translated("write"):
            blob.upload_from_string(
                body,
                content_type="application/json",
                if_generation_match=if_generation_match,
                retry=RETRY,
                timeout=TIMEOUT,
            )
        return int(blob.generation)

    def delete(self, name: str, generation: int | None = None) -> None:
        """That generation only (None: any); gone already, or replaced since, is fine."""
        with _translated("delete"):
            try:
                self._bucket.blob(name).delete(
                    if_generation_match=generation, retry=RETRY, timeout=TIMEOUT
                )
            except (api_exceptions.NotFound, api_exceptions.PreconditionFailed):
                return

    def list(
        self, prefix: str, *, start_offset: str | None = None, max_results: int | None = None
    ) -> list[Listed]:
        with _translated("list"):
            blobs = list(
                self._client.list_blobs(
                    self._bucket,
                    prefix=prefix,
                    start_offset=start_offset,
                    max_results=max_results,
                    retry=RETRY,
                    timeout=TIMEOUT,
                )
            )
        return [
            Listed(b.name, int(b.generation), dict(b.metadata or {}), b.time_created) for b in blobs
        ]


class GcsStore(Objects):
    """Consumers' folders: result files and manifests."""

    def read_manifest(self, key: JobKey) -> Manifest | None:
        found = self.read_json(f"{key.folder}/{MANIFEST}")
        return None if found is None else Manifest.from_json(found[0], generation=found[1])

    def create_manifest(self, key: JobKey, manifest: Manifest) -> int | None:
        return self.create_json(f"{key.folder}/{MANIFEST}", manifest.to_json())

    def delete_manifest(self, key: JobKey, generation: int) -> None:
        self.delete(f"{key.folder}/{MANIFEST}", generation)

    def delete_file(self, key: JobKey, name: str) -> None:
        self.delete(f"{key.folder}/{name}")

    def stored_files(self, key: JobKey) -> dict[str, StoredFile]:
        with _translated("list"):
            blobs = list(
                self._client.list_blobs(
                    self._bucket, prefix=f"{key.folder}/", retry=RETRY, timeout=TIMEOUT
                )
            )
        files = (_stored(blob) for blob in blobs if blob.name.rsplit("/", 1)[-1] != MANIFEST)
        return {f.name: f for f in files}

    def store_file(self, key: JobKey, name: str, download: Download, source: str) -> StoredFile:
        blob = self._bucket.blob(f"{key.folder}/{name}", chunk_size=UPLOAD_CHUNK_BYTES)
        blob.metadata = {"source": source}
        content_type = content_type_for(name, download.content_type)
        # html, svg, scripts ...: a browser that opens the object saves it, never runs it
        blob.content_disposition = disposition_for(content_type)
        reader = _ChunkReader(download.chunks)
        try:
            with _translated("upload"):
                blob.upload_from_file(
                    reader,
                    content_type=content_type,
                    if_generation_match=0,
                    checksum="crc32c",
                    retry=RETRY,
                    timeout=TIMEOUT,
                )
        except api_exceptions.PreconditionFailed:
            # Another delivery of this job stored it first: keep theirs, the same source.
            log.info("%s exists already; keeping the stored object", blob.name)
            with _translated("read"):
                blob.reload(retry=RETRY, timeout=TIMEOUT)
            return _stored(blob)
        except DataCorruption as exc:  # the client deleted the corrupt object already
            raise DownloadTransient(f"{name}: stored checksum differs from what was read") from exc
        if download.length is not None and reader.position != download.length:
            with _translated("delete"):  # never leave a short copy that looks like a result
                blob.delete(if_generation_match=blob.generation, retry=RETRY, timeout=TIMEOUT)
            raise DownloadTransient(
                f"{name}: expected {download.length} bytes. Found: {reader.position}"
            )
        return _stored(blob)


def _stored(blob: Blob) -> StoredFile:
    return StoredFile(
        name=blob.name.rsplit("/", 1)[-1],
        uri=f"gs://{blob.bucket.name}/{blob.name}",
        size=int(blob.size or 0),
        crc32c=blob.crc32c or "",
        md5=blob.md5_hash or "",
        content_type=blob.content_type or "application/octet-stream",
        source=(blob.metadata or {}).get("source", ""),
    )


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except (api_exceptions.PreconditionFailed, DataCorruption, DownloadError):
        raise
    except (
        api_exceptions.GoogleAPICallError,
        api_exceptions.RetryError,
        auth_exceptions.GoogleAuthError,
        requests.RequestException,
    ) as exc:
        cause = getattr(exc, "cause", None)  # a RetryError wraps the last error
        reason = exc.__class__.__name__ + (f" ({cause.__class__.__name__})" if cause else "")
        raise InfrastructureError(f"GCS {action} failed: {reason}") from exc


class _ChunkReader:
    """A read()/tell() view of an iterator of chunks, for the client's resumable upload.

    `read(n)` returns n bytes unless the source is exhausted (a short read means the end to
    the client). What the last read returned can be read again after `seek`, which the client
    uses to resend (part of) a chunk after a transient failure; nothing older is kept, so
    memory stays bounded by about two chunks.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""  # read from the source, not handed out yet
        self._last_start = 0  # where the last read began
        self._last = b""  # what the last read handed out
        self._replay = b""  # handed out before, to hand out again after a seek
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("an unbounded read would hold the whole file in memory")
        parts = [self._replay[:size]]
        self._replay = self._replay[size:]
        wanted = size - len(parts[0])
        while wanted > 0:
            if not self._pending:
                self._pending = next(self._chunks, b"")
                if not self._pending:
                    break
            parts.append(self._pending[:wanted])
            self._pending = self._pending[wanted:]
            wanted -= len(parts[-1])
        out = b"".join(parts)
        self._last_start, self._last = self.position, out
        self.position += len(out)
        return out

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        end = self._last_start + len(self._last)
        if whence != 0 or not self._last_start <= offset <= end:
            raise OSError(f"can only seek back within the last read. Asked: {offset}")
        self._replay = self._last[offset - self._last_start :] + self._replay
        self._last = self._last[: offset - self._last_start]
        self.position = offset
        return offset
