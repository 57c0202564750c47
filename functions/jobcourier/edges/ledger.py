"""The function's bookkeeping under `_jobcourier/` in the results bucket (ports.Ledger).

    _jobcourier/jobs/{provider}/{job_id}.json           what each submission said, kept
    _jobcourier/pending/{provider}/{job_id}.json        the same while in flight (an index)
    _jobcourier/history/{provider}/{job_id}/{gen}.json  manifests a replay replaced
    _jobcourier/webhooks/{provider}/{job_id}.json       a callback before its submission

Every check reads its job's pending entry, so that one read takes the JSON API through
google-auth's AuthorizedSession (already loaded with the Cloud Tasks client) instead of
google-cloud-storage: a check that only reschedules imports no storage client. Writes and
listings go through edges/gcs.py, created on first use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import google.auth
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession

from jobcourier.errors import InfrastructureError
from jobcourier.model import JobKey, JobRecord, Manifest, format_time, parse_time
from jobcourier.ports import PendingPage

if TYPE_CHECKING:  # the storage client is imported on first write, not by a check
    from jobcourier.edges.gcs import Objects

ROOT = "_jobcourier"
JOBS = f"{ROOT}/jobs"
PENDING = f"{ROOT}/pending"
HISTORY = f"{ROOT}/history"
WEBHOOKS = f"{ROOT}/webhooks"
READ_TIMEOUT = (5.0, 10.0)
MAX_RECORD_BYTES = 256 * 1024  # a record is a few hundred bytes; anything far larger is not ours
SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"


class GcsLedger:
    def __init__(self, bucket: str, objects: Callable[[], Objects], reader: JsonApiReader) -> None:
        self._bucket = bucket
        self._objects = objects
        self._reader = reader

    def read_pending(self, key: JobKey) -> JobRecord | None:
        found = self._reader.read(_name(PENDING, key))
        if found is None:
            return None
        raw, generation = found
        return JobRecord.from_json(json.loads(raw), generation=generation)

    def create_pending(self, record: JobRecord) -> int | None:
        metadata = {
            "submitted_at": format_time(record.submitted_at),
            "deadline_at": format_time(record.deadline_at),
            "chain": record.chain,
        }
        return self._objects().create_json(_name(PENDING, record.key), record.to_json(), metadata)

    def delete_pending(self, key: JobKey, generation: int) -> None:
        self._objects().delete(_name(PENDING, key), generation)

    def list_pending(
        self, provider: str | None, after: str | None, limit: int | None
    ) -> PendingPage:
        prefix = f"{PENDING}/{provider}/" if provider else f"{PENDING}/"
        if after is not None and not after.startswith(prefix):
            after = None
        wanted = None if limit is None else limit + (1 if after else 0) + 1
        listed = self._objects().list(prefix, start_offset=after, max_results=wanted)
        records = []
        for item in listed:
            if item.name == after:
                continue
            record = _from_listing(item.name, prefix=f"{PENDING}/", metadata=item.metadata)
            if record is not None:
                records.append((item.name, record, item.generation))
        more = limit is not None and len(records) > limit
        page = records[:limit] if limit is not None else records
        return PendingPage(
            records=tuple(replace(r, generation=g) for _, r, g in page),
            after=page[-1][0] if more and page else None,
        )

    def read_job(self, key: JobKey) -> JobRecord | None:
        found = self._objects().read_json(_name(JOBS, key))
        return None if found is None else JobRecord.from_json(found[0], generation=found[1])

    def write_job(self, record: JobRecord) -> None:
        self._objects().write_json(_name(JOBS, record.key), record.to_json())

    def archive_manifest(self, manifest: Manifest) -> None:
        key = JobKey(manifest.provider, manifest.job_id)
        name = f"{HISTORY}/{key.folder}/{manifest.generation or 0}.json"
        self._objects().create_json(name, manifest.to_json())

    def note_early_webhook(self, key: JobKey, now: datetime, *, ttl: timedelta, cap: int) -> bool:
        objects = self._objects()
        waiting = 0
        for item in objects.list(f"{WEBHOOKS}/{key.provider}/", max_results=cap + 100):
            if item.created < now - ttl:
                objects.delete(item.name, item.generation)
            else:
                waiting += 1
        if waiting >= cap:
            return False
        objects.create_json(_name(WEBHOOKS, key), {"received_at": format_time(now)})
        return True

    def take_early_webhook(self, key: JobKey) -> bool:
        found = self._reader.read(_name(WEBHOOKS, key))
        if found is None:
            return False
        self._objects().delete(_name(WEBHOOKS, key), found[1])
        return True


class JsonApiReader:
    """Reads one small object over GCS's JSON API: its bytes and generation, or None."""

    def __init__(self, bucket: str, session: requests.Session, host: str) -> None:
        self._bucket = bucket
        self._session = session
        self._host = host.rstrip("/")

    @classmethod
    def for_bucket(cls, bucket: str) -> JsonApiReader:
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:  # the client library's own variable, read the same way
            session = requests.Session()
            session.trust_env = False
            return cls(bucket, session, emulator)
        credentials, _ = google.auth.default(scopes=[SCOPE])
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        return cls(bucket, session, "https://storage.googleapis.com")

    def read(self, name: str) -> tuple[bytes, int] | None:
        url = f"{self._host}/storage/v1/b/{quote(self._bucket, safe='')}/o/{quote(name, safe='')}"
        for attempt in range(2):  # one more try for a blip; an outage is the caller's to retry
            try:
                with self._session.get(
                    url, params={"alt": "media"}, timeout=READ_TIMEOUT, stream=True
                ) as answer:
                    if answer.status_code == 404:
                        return None
                    if answer.status_code == 200:
                        body = answer.raw.read(MAX_RECORD_BYTES + 1, decode_content=True)
                        if len(body) > MAX_RECORD_BYTES:
                            raise InfrastructureError(f"GCS read of {name}: not a record")
                        return body, int(answer.headers.get("x-goog-generation", "0"))
                    if answer.status_code < 500 and answer.status_code != 429:
                        raise InfrastructureError(f"GCS read refused: HTTP {answer.status_code}")
                    reason = f"HTTP {answer.status_code}"
            except (requests.RequestException, auth_exceptions.GoogleAuthError) as exc:
                reason = exc.__class__.__name__
            if attempt:
                break
        raise InfrastructureError(f"GCS read failed: {reason}")


def _name(prefix: str, key: JobKey) -> str:
    return f"{prefix}/{key.folder}.json"


def _from_listing(name: str, *, prefix: str, metadata: Mapping[str, str]) -> JobRecord | None:
    """A pending entry from its name and metadata alone (no read)."""
    provider, _, rest = name[len(prefix) :].partition("/")
    if not rest.endswith(".json"):
        return None
    try:
        return JobRecord(
            key=JobKey(provider, rest[: -len(".json")]),
            chain=metadata.get("chain", ""),
            submitted_at=parse_time(metadata["submitted_at"]),
            deadline_at=parse_time(metadata["deadline_at"]),
        )
    except (KeyError, ValueError):
        return None
