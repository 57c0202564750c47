"""The results bucket through google-cloud-storage: the only module that imports it.

{provider}/{job_id}/00.png ... manifest.json     what consumers read
_jobcourier/jobs/{provider}/{job_id}.json        the submission (bookkeeping)
_jobcourier/webhooks/{provider}/{job_id}.json    a callback before its submission
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage import Blob, Client
from google.cloud.storage.exceptions import DataCorruption
from google.cloud.storage.retry import DEFAULT_RETRY

from jobcourier.errors import DownloadError, DownloadTransient, InfrastructureError
from jobcourier.model import JobKey, Manifest, Record, StoredFile
from jobcourier.naming import content_type_for, disposition_for
from jobcourier.ports import Download

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
BOOKKEEPING = "_jobcourier"
# Resumable upload chunk: the most a copy holds in memory (a multiple of 256 KiB).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# GCS unreachable for this long: answer 503 and let Cloud Tasks retry with its own backoff,
# rather than hold the invocation for the client's default two minutes.
RETRY = DEFAULT_RETRY.with_timeout(10.0)
TIMEOUT = (5.0, 60.0)


class GcsStore:
    def __init__(self, client: Client, bucket_name: str) -> None:
        self._bucket = client.bucket(bucket_name)
        self._client = client

    @classmethod
    def from_bucket_name(cls, bucket_name: str) -> GcsStore:
        # STORAGE_EMULATOR_HOST, when set, is read by the client itself.
        return cls(Client(), bucket_name)

    def read_manifest(self, key: JobKey) -> Manifest | None:
        data = self._read_json(f"{key.folder}/{MANIFEST}")
        return None if data is None else Manifest.from_json(data)

    def create_manifest(self, key: JobKey, manifest: Manifest) -> bool:
        return self._create_json(f"{key.folder}/{MANIFEST}", manifest.to_json())

    def read_record(self, kind: Record, key: JobKey) -> dict[str, Any] | None:
        return self._read_json(f"{BOOKKEEPING}/{kind.value}/{key.folder}.json")

    def create_record(self, kind: Record, key: JobKey, value: Mapping[str, Any]) -> bool:
        return self._create_json(f"{BOOKKEEPING}/{kind.value}/{key.folder}.json", value)

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

    def _read_json(self, name: str) -> dict[str, Any] | None:
        with _translated("read"):
            blob = self._bucket.get_blob(name, retry=RETRY, timeout=TIMEOUT)
            if blob is None:
                return None
            data: dict[str, Any] = json.loads(blob.download_as_bytes(retry=RETRY, timeout=TIMEOUT))
        return data

    def _create_json(self, name: str, value: Mapping[str, Any]) -> bool:
        body = json.dumps(value, indent=2, sort_keys=True).encode()
        try:
            with _translated("write"):
                self._bucket.blob(name).upload_from_string(
                    body,
                    content_type="application/json",
                    if_generation_match=0,
                    retry=RETRY,
                    timeout=TIMEOUT,
                )
        except api_exceptions.PreconditionFailed:
            return False
        return True


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
