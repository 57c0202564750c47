"""Checks of what callers send. Every refusal says what was expected and what was found."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jobcourier import safejson
from jobcourier.errors import BadRequest
from jobcourier.limits import MAX_DEADLINE
from jobcourier.model import (
    MAX_PROGRESS_SAMPLES,
    MAX_RECENT,
    CallbackTask,
    JobKey,
    PollTask,
    TaskKind,
    parse_time,
)
from jobcourier.text import MAX_TEXT

MAX_JOB_ID_LENGTH = 256
# GCS object names are at most 1024 bytes of UTF-8: room for "{provider}/" and "/manifest.json".
MAX_JOB_ID_BYTES = 960
MAX_LABELS = 16
MAX_LABEL_KEY_LENGTH = 63
MAX_LABEL_VALUE_LENGTH = 256
MAX_DEADLINE_SECONDS = int(MAX_DEADLINE.total_seconds())
INTEGER_JOB_IDS = frozenset({"sellerpic"})  # SellerPic task ids are int64
MAX_INT64 = 2**63 - 1
MAX_URL_LENGTH = 2048
MAX_REASON_LENGTH = 500
MAX_COUNT = 10**7  # checks, sequence numbers, attempts: far beyond 30 days of checks
MAX_LIST_LIMIT = 1000
_CHAIN = re.compile(r"[0-9a-f]{0,32}")
_WEBHOOK_ID = re.compile(r"msg_[0-9a-f]{32}")


@dataclass(frozen=True)
class Submission:
    key: JobKey
    deadline_seconds: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    callback_url: str | None = None
    replay: bool = False


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A request body: a JSON object, read within safejson's bounds."""
    try:
        body = safejson.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest(f"{what} must be a JSON object. Found invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest(f"{what} must be a JSON object. Found: {type(body).__name__}")
    return body


SUBMISSION_FIELDS = frozenset(
    {"provider", "job_id", "deadline_seconds", "labels", "callback_url", "replay"}
)


def parse_submission(body: Mapping[str, Any], providers: Iterable[str]) -> Submission:
    unknown_fields = set(body) - SUBMISSION_FIELDS
    if unknown_fields:
        raise BadRequest(f"unknown fields in the submission: {sorted(unknown_fields)}")
    provider = parse_provider(body.get("provider"), providers)
    replay = body.get("replay", False)
    if not isinstance(replay, bool):
        raise BadRequest(f"replay must be true or false. Found: {_show(replay)}")
    return Submission(
        key=JobKey(provider, parse_job_id(body.get("job_id"), provider)),
        deadline_seconds=_parse_deadline(body.get("deadline_seconds")),
        labels=_parse_labels(body.get("labels")),
        callback_url=_parse_url(body.get("callback_url"), "callback_url"),
        replay=replay,
    )


def parse_cancel(body: Mapping[str, Any]) -> str | None:
    """The optional reason of `POST /jobs/{provider}/{job_id}/cancel`."""
    unknown_fields = set(body) - {"reason"}
    if unknown_fields:
        raise BadRequest(f"unknown fields in the cancel request: {sorted(unknown_fields)}")
    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise BadRequest(
            f"reason must be a string of at most {MAX_REASON_LENGTH} characters. "
            f"Found: {_show(reason)}"
        )
    return reason


def parse_limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 4) or not (
        1 <= int(value) <= MAX_LIST_LIMIT
    ):
        raise BadRequest(
            f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}. Found: {value!r}"
        )
    return int(value)


def parse_task(body: Mapping[str, Any], providers: Iterable[str] | None = None) -> PollTask:
    """A poll task body, checked as strictly as a submission (a forged or damaged task must
    not name a folder, or carry a number, that a submission could not). Raises BadRequest."""
    fields_known = {
        "v", "provider", "job_id", "submitted_at", "deadline_at", "labels", "seq", "checks",
        "last_status", "progress", "kind", "last_check_s", "done", "chain", "rearms", "recent",
    }  # fmt: skip
    if set(body) - fields_known:
        raise BadRequest(f"unknown fields in the poll task: {sorted(set(body) - fields_known)}")
    provider = (
        parse_provider(body.get("provider"), providers)
        if providers is not None
        else _parse_name(body.get("provider"), "provider")
    )
    kind = body.get("kind", TaskKind.CHAIN.value)
    if kind not in {k.value for k in TaskKind}:
        raise BadRequest(
            f"kind must be one of {sorted(k.value for k in TaskKind)}. Found: {_show(kind)}"
        )
    return PollTask(
        key=JobKey(provider, parse_job_id(body.get("job_id"), provider)),
        submitted_at=_parse_moment(body.get("submitted_at"), "submitted_at"),
        deadline_at=_parse_moment(body.get("deadline_at"), "deadline_at"),
        labels=_parse_labels(body.get("labels")),
        seq=_parse_count(body.get("seq", 0), "seq"),
        checks=_parse_count(body.get("checks", 0), "checks"),
        last_status=_parse_text(body.get("last_status"), "last_status"),
        progress=_parse_progress(body.get("progress") or []),
        kind=TaskKind(kind),
        last_check_s=_parse_seconds(body.get("last_check_s"), "last_check_s"),
        done=_parse_flag(body.get("done", False), "done"),
        chain=_parse_chain(body.get("chain", "")),
        rearms=_parse_count(body.get("rearms", 0), "rearms"),
        recent=_parse_recent(body.get("recent") or []),
    )


def parse_callback_task(body: Mapping[str, Any], providers: Iterable[str]) -> CallbackTask:
    known = {"v", "kind", "provider", "job_id", "chain", "url", "webhook_id", "first_at",
             "generation", "attempt"}  # fmt: skip
    if set(body) - known:
        raise BadRequest(f"unknown fields in the callback task: {sorted(set(body) - known)}")
    provider = parse_provider(body.get("provider"), providers)
    url = _parse_url(body.get("url"), "url")
    webhook_id = body.get("webhook_id")
    if url is None or not isinstance(webhook_id, str) or not _WEBHOOK_ID.fullmatch(webhook_id):
        raise BadRequest("a callback task needs a url and a webhook_id")
    generation = body.get("generation")
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise BadRequest(f"generation must be a whole number. Found: {_show(generation)}")
    return CallbackTask(
        key=JobKey(provider, parse_job_id(body.get("job_id"), provider)),
        chain=_parse_chain(body.get("chain", "")),
        url=url,
        webhook_id=webhook_id,
        first_at=_parse_moment(body.get("first_at"), "first_at"),
        generation=generation,
        attempt=max(_parse_count(body.get("attempt", 1), "attempt"), 1),
    )


def _parse_url(value: Any, what: str) -> str | None:
    """A URL's form (http or https, a host, no credentials); where it may lead is the
    sender's check (edges/http.py), made when calling."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        raise BadRequest(
            f"{what} must be a URL of at most {MAX_URL_LENGTH} characters. Found: {_show(value)}"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise BadRequest(f"{what} does not parse as a URL: {exc}") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadRequest(f"{what} must be an https URL with a host. Found: {_show(value)}")
    if parts.username or parts.password or any(ch.isspace() for ch in value):
        raise BadRequest(f"{what} must carry no credentials or spaces")
    return value


def _parse_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", value):
        raise BadRequest(f"{what} must be a provider name. Found: {_show(value)}")
    return value


def _parse_moment(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise BadRequest(f"{what} must be an RFC 3339 time. Found: {_show(value)}")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise BadRequest(f"{what} must be an RFC 3339 time with a zone. Found: {value!r}") from exc


def _parse_count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise BadRequest(
            f"{what} must be a whole number from 0 to {MAX_COUNT}. Found: {_show(value)}"
        )
    return value


def _parse_seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_DEADLINE_SECONDS * 2
    ):
        raise BadRequest(f"{what} must be a number of seconds. Found: {_show(value)}")
    return float(value)


def _parse_progress(value: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or len(value) > MAX_PROGRESS_SAMPLES:
        raise BadRequest(
            f"progress must be a list of at most {MAX_PROGRESS_SAMPLES} samples. "
            f"Found: {_show(value)}"
        )
    samples = []
    for sample in value:
        if not isinstance(sample, list) or len(sample) != 2:
            raise BadRequest(
                f"a progress sample must be [seconds, fraction]. Found: {_show(sample)}"
            )
        elapsed = _parse_seconds(sample[0], "a progress sample's seconds")
        fraction = sample[1]
        if (
            elapsed is None
            or isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 <= fraction <= 1
        ):
            raise BadRequest(f"a progress sample must be [seconds, 0..1]. Found: {_show(sample)}")
        samples.append((elapsed, float(fraction)))
    return tuple(samples)


def _parse_recent(value: Any) -> tuple[tuple[float, float], ...]:
    """Durations of recent jobs, (lo, hi] seconds each, as the planner carries them."""
    if not isinstance(value, list) or len(value) > MAX_RECENT:
        raise BadRequest(
            f"recent must be a list of at most {MAX_RECENT} durations. Found: {_show(value)}"
        )
    durations = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise BadRequest(f"a recent duration must be [lo, hi]. Found: {_show(pair)}")
        lo = _parse_seconds(pair[0], "a recent duration's lo")
        hi = _parse_seconds(pair[1], "a recent duration's hi")
        if lo is None or hi is None or lo > hi:  # rounded to 0.1 s: a quick job has lo == hi
            raise BadRequest(f"a recent duration must have lo <= hi. Found: {_show(pair)}")
        durations.append((lo, hi))
    return tuple(durations)


def _parse_text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise BadRequest(f"{what} must be a string of at most {MAX_TEXT} characters")
    return value


def _parse_flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{what} must be true or false. Found: {_show(value)}")
    return value


def _parse_chain(value: Any) -> str:
    if not isinstance(value, str) or not _CHAIN.fullmatch(value):
        raise BadRequest(f"chain must be up to 32 hex digits. Found: {_show(value)}")
    return value


def parse_provider(value: Any, providers: Iterable[str]) -> str:
    known = sorted(providers)
    if value not in known:
        raise BadRequest(f"provider must be one of {known}. Found: {_show(value)}")
    return str(value)


def parse_job_id(value: Any, provider: str) -> str:
    if provider in INTEGER_JOB_IDS:
        return _parse_int64_id(value, provider)
    if not isinstance(value, str):
        raise BadRequest(f"job_id must be a string. Found: {_show(value)}")
    if not value:
        raise BadRequest("job_id must not be empty")
    if len(value) > MAX_JOB_ID_LENGTH:
        raise BadRequest(
            f"job_id must be at most {MAX_JOB_ID_LENGTH} characters. Found: {len(value)}"
        )
    if "/" in value or "\\" in value or ".." in value or value.strip() in ("", "."):
        raise BadRequest(f"job_id must not contain '/', '\\' or '..'. Found: {value!r}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in value):
        raise BadRequest(f"job_id must not contain control characters. Found: {value!r}")
    if len(value.encode()) > MAX_JOB_ID_BYTES:
        raise BadRequest(
            f"job_id must be at most {MAX_JOB_ID_BYTES} bytes of UTF-8. "
            f"Found: {len(value.encode())}"
        )
    return value


def _parse_int64_id(value: Any, provider: str) -> str:
    """An int64 task id, given as a JSON integer or a digit string."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise BadRequest(
            f"job_id for {provider} must be a non-negative integer or a string of "
            f"digits. Found: {_show(value)}"
        )
    if not 0 <= number <= MAX_INT64:
        raise BadRequest(f"job_id for {provider} must fit in int64. Found: {number}")
    return str(number)


def _parse_deadline(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"deadline_seconds must be a number. Found: {_show(value)}")
    if not 0 < value <= MAX_DEADLINE_SECONDS:
        raise BadRequest(f"deadline_seconds must be in (0, {MAX_DEADLINE_SECONDS}]. Found: {value}")
    return float(value)


def _parse_labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"labels must be an object of strings. Found: {_show(value)}")
    if len(value) > MAX_LABELS:
        raise BadRequest(f"labels must hold at most {MAX_LABELS} pairs. Found: {len(value)}")
    for key, item in value.items():
        if not key or len(key) > MAX_LABEL_KEY_LENGTH:
            raise BadRequest(
                f"label keys must be 1 to {MAX_LABEL_KEY_LENGTH} characters. Found: {key!r}"
            )
        if not isinstance(item, str) or len(item) > MAX_LABEL_VALUE_LENGTH:
            raise BadRequest(
                f"label {key!r} must be a string of at most {MAX_LABEL_VALUE_LENGTH} "
                f"characters. Found: {_show(item)}"
            )
    return dict(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
