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
from jobcourier.errors import DownloadError, InfrastructureError
from jobcourier.model import JobKey, Manifest, PollTask, Record, StoredFile
from jobcourier.planner import Planner
from jobcourier.ports import ApiResponse, Download
from jobcourier.providers import REGISTRY
from jobcourier.providers.base import Provider


class Clock:
    def __init__(self, start: datetime = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ScheduledTask:
    provider: str
    task_id: str
    body: bytes
    at: datetime

    @property
    def task(self) -> PollTask:
        return PollTask.from_json(json.loads(self.body))


@dataclass
class FakeScheduler:
    tasks: list[ScheduledTask] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    unavailable: bool = False

    def schedule(self, provider: str, task_id: str, body: bytes, at: datetime) -> bool:
        if self.unavailable:
            raise InfrastructureError("Cloud Tasks unavailable: ServiceUnavailable")
        if task_id in self.names:
            return False
        self.names.add(task_id)
        self.tasks.append(ScheduledTask(provider, task_id, body, at))
        return True

    def pop(self) -> ScheduledTask:
        return self.tasks.pop(0)


@dataclass
class FakeStore:
    objects: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    unavailable: bool = False

    def _check(self) -> None:
        if self.unavailable:
            raise InfrastructureError("GCS read failed: ServiceUnavailable")

    def _read(self, name: str) -> dict[str, Any] | None:
        self._check()
        raw = self.objects.get(name)
        return None if raw is None else json.loads(raw)

    def _create(self, name: str, value: Mapping[str, Any]) -> bool:
        self._check()
        if name in self.objects:
            return False
        self.objects[name] = json.dumps(value).encode()
        self.writes.append(name)
        return True

    def read_manifest(self, key: JobKey) -> Manifest | None:
        data = self._read(f"{key.folder}/manifest.json")
        return None if data is None else Manifest.from_json(data)

    def create_manifest(self, key: JobKey, manifest: Manifest) -> bool:
        return self._create(f"{key.folder}/manifest.json", manifest.to_json())

    def read_record(self, kind: Record, key: JobKey) -> dict[str, Any] | None:
        return self._read(f"_jobcourier/{kind.value}/{key.folder}.json")

    def create_record(self, kind: Record, key: JobKey, value: Mapping[str, Any]) -> bool:
        return self._create(f"_jobcourier/{kind.value}/{key.folder}.json", value)

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
        self.objects[path] = data
        self.writes.append(path)
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
    clock: Clock = field(default_factory=Clock)
    providers: Mapping[str, Provider] = field(default_factory=lambda: REGISTRY)
    store_opened: int = 0

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
            downloader=lambda: self.downloader,
            planner=planner or Planner(self.providers, rand=rand),
            clock=self.clock,
        )
