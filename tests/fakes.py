"""In-memory stand-ins for the edges, for unit tests only. They keep the real services' rules
that the courier relies on: task names are unique (ALREADY_EXISTS) and create-only writes fail
on a taken name (if_generation_match=0)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import google_crc32c

from jobcourier.courier import Courier
from jobcourier.errors import (
    BadRequest,
    DownloadError,
    InfrastructureError,
)
from jobcourier.model import JobKey, JobRecord, Manifest, PollTask, StoredFile, format_time
from jobcourier.planner import Planner
from jobcourier.ports import ApiResponse, Download, PendingPage, QueuedTask
from jobcourier.providers import REGISTRY
from jobcourier.providers.base import Provider
from jobcourier.validation import parse_task

CALLBACK_KEY = b"a callback signing key of 32 bytes"


class Clock:
    def __init__(self, start: datetime = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ScheduledTask:
    provider: str | None
    task_id: str
    body: bytes
    at: datetime

    @property
    def task(self) -> PollTask:
        return parse_task(json.loads(self.body))

    @property
    def body_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class FakeScheduler:
    tasks: list[ScheduledTask] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    unavailable: bool = False

    def schedule(self, provider: str | None, task_id: str, body: bytes, at: datetime) -> bool:
        if self.unavailable:
            raise InfrastructureError("Cloud Tasks unavailable: ServiceUnavailable")
        if task_id in self.names:
            return False
        self.names.add(task_id)
        self.tasks.append(ScheduledTask(provider, task_id, body, at))
        return True

    def pop(self) -> ScheduledTask:
        return self.tasks.pop(0)

    def queued(self) -> Iterator[QueuedTask]:
        if self.unavailable:
            raise InfrastructureError("Cloud Tasks unavailable: ServiceUnavailable")
        return iter([QueuedTask(t.body, t.at) for t in self.tasks])


@dataclass
class FakeStore:
    """One bucket: consumers' folders (ports.Store) and the bookkeeping (ports.Ledger), with
    generations and create-only writes, as GCS keeps them."""

    objects: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    generations: dict[str, int] = field(default_factory=dict)
    created: dict[str, datetime] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default_factory=lambda: lambda: datetime.now(UTC))
    unavailable: bool = False
    _next_generation: int = 1000

    def _check(self) -> None:
        if self.unavailable:
            raise InfrastructureError("GCS read failed: ServiceUnavailable")

    def _read(self, name: str) -> tuple[dict[str, Any], int] | None:
        self._check()
        raw = self.objects.get(name)
        return None if raw is None else (json.loads(raw), self.generations[name])

    def _put(self, name: str, value: bytes) -> int:
        self._next_generation += 1
        self.objects[name] = value
        self.generations[name] = self._next_generation
        self.created[name] = self.clock()
        self.writes.append(name)
        return self._next_generation

    def _create(self, name: str, value: Mapping[str, Any]) -> int | None:
        self._check()
        if name in self.objects:
            return None
        return self._put(name, json.dumps(value).encode())

    def _delete(self, name: str, generation: int | None = None) -> None:
        self._check()
        if name in self.objects and generation in (None, self.generations[name]):
            del self.objects[name]
            self.files.pop(name, None)

    # -- ports.Store --------------------------------------------------------------------------
    def read_manifest(self, key: JobKey) -> Manifest | None:
        found = self._read(f"{key.folder}/manifest.json")
        return None if found is None else Manifest.from_json(found[0], generation=found[1])

    def create_manifest(self, key: JobKey, manifest: Manifest) -> int | None:
        return self._create(f"{key.folder}/manifest.json", manifest.to_json())

    def delete_manifest(self, key: JobKey, generation: int) -> None:
        self._delete(f"{key.folder}/manifest.json", generation)

    def delete_file(self, key: JobKey, name: str) -> None:
        self._delete(f"{key.folder}/{name}")

    # -- ports.Ledger -------------------------------------------------------------------------
    def read_pending(self, key: JobKey) -> JobRecord | None:
        found = self._read(f"_jobcourier/pending/{key.folder}.json")
        return None if found is None else JobRecord.from_json(found[0], generation=found[1])

    def create_pending(self, record: JobRecord) -> int | None:
        return self._create(f"_jobcourier/pending/{record.key.folder}.json", record.to_json())

    def delete_pending(self, key: JobKey, generation: int) -> None:
        self._delete(f"_jobcourier/pending/{key.folder}.json", generation)

    def list_pending(
        self, provider: str | None, after: str | None, limit: int | None
    ) -> PendingPage:
        self._check()
        prefix = f"_jobcourier/pending/{provider}/" if provider else "_jobcourier/pending/"
        names = sorted(
            n for n in self.objects if n.startswith(prefix) and (after is None or n > after)
        )
        page = names if limit is None else names[:limit]
        records = tuple(
            JobRecord.from_json(json.loads(self.objects[n]), self.generations[n]) for n in page
        )
        more = limit is not None and len(names) > limit
        return PendingPage(records, page[-1] if more else None)

    def read_job(self, key: JobKey) -> JobRecord | None:
        found = self._read(f"_jobcourier/jobs/{key.folder}.json")
        return None if found is None else JobRecord.from_json(found[0], generation=found[1])

    def write_job(self, record: JobRecord) -> None:
        self._check()
        self._put(
            f"_jobcourier/jobs/{record.key.folder}.json", json.dumps(record.to_json()).encode()
        )

    def archive_manifest(self, manifest: Manifest) -> None:
        name = (
            f"_jobcourier/history/{manifest.provider}/{manifest.job_id}/{manifest.generation}.json"
        )
        self._create(name, manifest.to_json())

    def note_early_webhook(self, key: JobKey, now: datetime, *, ttl: timedelta, cap: int) -> bool:
        self._check()
        prefix = f"_jobcourier/webhooks/{key.provider}/"
        for name in [n for n in self.objects if n.startswith(prefix)]:
            if self.created[name] < now - ttl:
                del self.objects[name]
        if sum(n.startswith(prefix) for n in self.objects) >= cap:
            return False
        self._create(f"{prefix}{key.job_id}.json", {"received_at": format_time(now)})
        return True

    def take_early_webhook(self, key: JobKey) -> bool:
        name = f"_jobcourier/webhooks/{key.folder}.json"
        found = self._read(name)
        if found is None:
            return False
        self._delete(name)
        return True

    def stored_files(self, key: JobKey) -> dict[str, StoredFile]:
        self._check()
        prefix = f"{key.folder}/"
        return {n[len(prefix) :]: f for n, f in self.files.items() if n.startswith(prefix)}

    def store_file(self, key: JobKey, name: str, download: Download, source: str) -> StoredFile:
        self._check()
        path = f"{key.folder}/{name}"
        data = b"".join(download.chunks)  # tiny test payloads; the real edge streams
        if path in self.objects:
            return self.files[path]
        self._put(path, data)
        stored = StoredFile(
            name=name,
            uri=f"gs://bucket/{path}",
            size=len(data),
            crc32c=crc32c_b64(data),
            md5=base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324
            content_type=download.content_type or "application/octet-stream",
            source=source,
        )
        self.files[path] = stored
        return stored


@dataclass
class FakeDownloader:
    """url -> (content type, bytes) or a DownloadError to raise."""

    served: dict[str, tuple[str, bytes] | DownloadError] = field(default_factory=dict)
    opened: list[str] = field(default_factory=list)
    deadlines: list[float | None] = field(default_factory=list)

    @contextmanager
    def open(self, url: str, deadline: float | None = None) -> Iterator[Download]:
        self.opened.append(url)
        self.deadlines.append(deadline)
        item = self.served[url]
        if isinstance(item, DownloadError):
            raise item
        content_type, data = item
        yield Download(content_type, len(data), iter([data[:3], data[3:]]))


@dataclass
class FakeSender:
    """Callbacks: answers (an HTTP status, or an exception to raise) in order, the last one
    repeating; what was sent is kept."""

    answers: list[int | Exception] = field(default_factory=lambda: [200])
    sent: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def check(self, url: str) -> None:
        if not url.startswith("https://") or "169.254." in url:
            raise BadRequest(f"callback_url is not allowed: {url}")

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.sent.append((url, body, dict(headers)))
        item = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


@dataclass
class ScriptedApi:
    """Answers status calls from a script: ApiResponses (or exceptions) in order, the last
    one repeating."""

    script: list[ApiResponse | Exception]
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def get(self, path: str, params: Mapping[str, str]) -> ApiResponse:
        self.calls.append((path, dict(params)))
        item = self.script[0] if len(self.script) == 1 else self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(status, json.dumps(body).encode(), headers or {})


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


@dataclass
class World:
    """A courier wired to fakes, plus the fakes, for one test."""

    api: ScriptedApi
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)
    store: FakeStore = field(default_factory=FakeStore)
    downloader: FakeDownloader = field(default_factory=FakeDownloader)
    sender: FakeSender = field(default_factory=FakeSender)
    clock: Clock = field(default_factory=Clock)
    providers: Mapping[str, Provider] = field(default_factory=lambda: REGISTRY)
    callback_secret: bytes | None = CALLBACK_KEY
    store_opened: int = 0

    def __post_init__(self) -> None:
        self.store.clock = self.clock

    def courier(
        self, rand: Callable[[], float] = lambda: 0.5, planner: Planner | None = None
    ) -> Courier:
        def store() -> FakeStore:
            self.store_opened += 1
            return self.store

        return Courier(
            providers=self.providers,
            api_for=lambda provider: self.api,
            scheduler=lambda: self.scheduler,
            store=store,
            ledger=lambda: self.store,
            downloader=lambda: self.downloader,
            sender=lambda: self.sender,
            planner=planner or Planner(self.providers, rand=rand),
            callback_secret=self.callback_secret,
            clock=self.clock,
        )
