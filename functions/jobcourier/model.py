"""The data passed between the decision logic and the edges: frozen dataclasses, no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from jobcourier.text import shorten

MAX_PROGRESS_SAMPLES = 8  # keeps the task body small (Cloud Tasks allows 100 KB)
MAX_RECENT = 32  # recent durations a task may carry (the planner writes 24): a few hundred bytes


class ProviderStatus(StrEnum):
    """A provider's status word, mapped to one canonical set for every provider."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a word nobody modelled: never success, never failure


class JobState(StrEnum):
    """What became of a job: what GET /jobs and the manifest report."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


REPLAYABLE = frozenset({JobState.FAILED, JobState.TIMED_OUT, JobState.PARTIAL, JobState.CANCELED})


class TaskKind(StrEnum):
    """What a poll task is for."""

    CHAIN = "chain"  # the polling chain: each check schedules the next until the job settles
    PROMPT = "webhook"  # one check a provider's callback asked for; it never reschedules


@dataclass(frozen=True)
class Answer:
    """What an invocation settled on; routes.py turns it into HTTP."""

    http_status: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class JobKey:
    provider: str
    job_id: str

    @property
    def folder(self) -> str:
        return f"{self.provider}/{self.job_id}"

    def task_id(self, seq: int | str, chain: str = "") -> str:
        """Deterministic and hashed, as Cloud Tasks recommends (no sequential prefixes); a
        replay's chain gets names of its own (Cloud Tasks remembers used names for an hour)."""
        step = f"{chain}-{seq}" if chain else str(seq)
        digest = hashlib.sha256(f"{self.provider}\0{self.job_id}\0{step}".encode()).hexdigest()
        return f"{digest[:32]}-{step}"


@dataclass(frozen=True)
class Output:
    """One result file the provider announced. `error` set: the provider failed this item."""

    url: str | None
    error: str | None = None
    item_id: str | None = None


@dataclass(frozen=True)
class Observation:
    """What one status check saw, already mapped to the canonical set."""

    status: ProviderStatus
    raw_status: str
    outputs: tuple[Output, ...] = ()
    progress: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class StoredFile:
    name: str
    uri: str
    size: int
    crc32c: str
    md5: str
    content_type: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the manifest's file entry, field for field


@dataclass(frozen=True)
class JobError:
    """Why a job did not succeed: a stable code and a message for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Manifest:
    """`{provider}/{job_id}/manifest.json`, written last: its presence means settled."""

    provider: str
    job_id: str
    state: JobState
    submitted_at: datetime
    settled_at: datetime
    checks: int
    files: tuple[StoredFile, ...] = ()
    error: JobError | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # The bucket's generation of the object it was read from (not part of the document).
    generation: int | None = field(default=None, compare=False)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "job_id": self.job_id,
            "state": self.state.value,
            "submitted_at": format_time(self.submitted_at, timespec="seconds"),
            "settled_at": format_time(self.settled_at, timespec="seconds"),
            "checks": self.checks,
            "files": [f.to_json() for f in self.files],
            "error": None if self.error is None else asdict(self.error),
            "labels": dict(self.labels),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], generation: int | None = None) -> Manifest:
        """A manifest this function wrote (the bucket is ours: no hostile input here)."""
        error = data.get("error")
        return cls(
            provider=str(data["provider"]),
            job_id=str(data["job_id"]),
            state=JobState(data["state"]),
            submitted_at=parse_time(data["submitted_at"]),
            settled_at=parse_time(data["settled_at"]),
            checks=int(data["checks"]),
            files=tuple(StoredFile(**f) for f in data.get("files") or ()),
            error=None if error is None else JobError(str(error["code"]), str(error["message"])),
            labels=dict(data.get("labels") or {}),
            generation=generation,
        )


def manifest_answer(manifest: Manifest) -> Answer:
    """The answer about a settled job."""
    return Answer(200, {"state": manifest.state.value, "manifest": manifest.to_json()})


@dataclass(frozen=True)
class JobRecord:
    """What the submission said, and which polling chain is in charge of the job.

    Written at submission (and at each replay) as `_jobcourier/jobs/{provider}/{job_id}.json`,
    kept for the job's life; a copy sits under `_jobcourier/pending/` while the job is in flight
    (the index that listing and the sweep read, and each check consults)."""

    key: JobKey
    chain: str  # a new one per replay: its task names are its own
    submitted_at: datetime
    deadline_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    deadline_s: float | None = None  # what the submission asked for (None: the default)
    callback_url: str | None = None
    replaces: int | None = None  # a replay: the generation of the manifest it replaces
    generation: int | None = field(default=None, compare=False)  # as read from the bucket

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "provider": self.key.provider,
            "job_id": self.key.job_id,
            "chain": self.chain,
            "submitted_at": format_time(self.submitted_at),
            "deadline_at": format_time(self.deadline_at),
            "labels": dict(self.labels),
            "deadline_s": self.deadline_s,
            "callback_url": self.callback_url,
            "replaces": self.replaces,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], generation: int | None = None) -> JobRecord:
        """A record this function wrote (the bucket is ours)."""
        return cls(
            key=JobKey(str(data["provider"]), str(data["job_id"])),
            chain=str(data["chain"]),
            submitted_at=parse_time(data["submitted_at"]),
            deadline_at=parse_time(data["deadline_at"]),
            labels=dict(data.get("labels") or {}),
            deadline_s=_optional_float(data.get("deadline_s")),
            callback_url=data.get("callback_url"),
            replaces=data.get("replaces"),
            generation=generation,
        )

    def first_task(self) -> PollTask:
        return PollTask(
            key=self.key,
            submitted_at=self.submitted_at,
            deadline_at=self.deadline_at,
            labels=dict(self.labels),
            chain=self.chain,
        )


@dataclass(frozen=True)
class PollTask:
    """Everything a check needs to continue after any crash; it travels as the task body.
    Bodies that come in are checked field by field first (validation.parse_task).

    Times since submission (`progress`, `last_check_s`) are real seconds; the planner turns
    them into the provider's time when the local time scale is not 1."""

    key: JobKey
    submitted_at: datetime
    deadline_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    seq: int = 0
    checks: int = 0
    last_status: str | None = None
    # (seconds since submission, fraction done) as the provider reported, newest last
    progress: tuple[tuple[float, float], ...] = ()
    kind: TaskKind = TaskKind.CHAIN
    last_check_s: float | None = None  # when the previous check ran, seconds since submission
    done: bool = False  # the provider said done: only the copy goes on (past the deadline too)
    # durations of the provider's recent jobs, (lo, hi] seconds, newest last, as the instance
    # that wrote the task knew them: a cold instance learns them (planner.py)
    recent: tuple[tuple[float, float], ...] = ()
    chain: str = ""  # the polling chain this task belongs to (JobRecord.chain)
    rearms: int = 0  # times a task of this check was scheduled anew after the queue gave up

    @property
    def task_id(self) -> str:
        """This task's name in its queue."""
        seq = f"{self.seq}r{self.rearms}" if self.rearms else self.seq
        return self.key.task_id(seq if self.kind is TaskKind.CHAIN else self.kind.value, self.chain)

    def next(self, raw_status: str | None) -> PollTask:
        status = None if raw_status is None else shorten(raw_status)
        return replace(self, seq=self.seq + 1, last_status=status, rearms=0)

    def with_progress(self, elapsed_s: float, fraction: float) -> PollTask:
        samples = (*self.progress, (round(elapsed_s, 3), round(fraction, 4)))
        return replace(self, progress=samples[-MAX_PROGRESS_SAMPLES:])

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "provider": self.key.provider,
            "job_id": self.key.job_id,
            "submitted_at": format_time(self.submitted_at),
            "deadline_at": format_time(self.deadline_at),
            "labels": dict(self.labels),
            "seq": self.seq,
            "checks": self.checks,
            "last_status": self.last_status,
            "progress": [list(sample) for sample in self.progress],
            "kind": self.kind.value,
            "last_check_s": self.last_check_s,
            "done": self.done,
            "chain": self.chain,
            "rearms": self.rearms,
            **({"recent": [list(r) for r in self.recent]} if self.recent else {}),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number. Found: {value!r}")
    return float(value)


def format_time(moment: datetime, *, timespec: str = "milliseconds") -> str:
    """ISO 8601 in UTC with a Z. Manifests use whole seconds, as the contract shows; tasks keep
    milliseconds (scaled local runs schedule checks a fraction of a second apart)."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class CallbackTask:
    """One attempt at telling a job's `callback_url` that the job settled; travels as a task
    body (kind "callback") and schedules its own next attempt until it is answered 2xx."""

    key: JobKey
    chain: str  # the chain whose manifest it announces: a replay's callbacks are its own
    url: str
    webhook_id: str  # the same on every attempt (Standard Webhooks' idempotency key)
    first_at: datetime
    generation: int  # of the manifest it announces: a replay that replaced it ends it
    attempt: int = 1

    KIND = "callback"

    @property
    def task_id(self) -> str:
        return self.key.task_id(f"{self.KIND}{self.attempt}", self.chain)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "kind": self.KIND,
            "provider": self.key.provider,
            "job_id": self.key.job_id,
            "chain": self.chain,
            "url": self.url,
            "webhook_id": self.webhook_id,
            "first_at": format_time(self.first_at),
            "generation": self.generation,
            "attempt": self.attempt,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()
