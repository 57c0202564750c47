"""Checks of what callers send. Every refusal says what was expected and what was found."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobcourier import safejson
from jobcourier.errors import BadRequest
from jobcourier.limits import MAX_DEADLINE
from jobcourier.model import JobKey

MAX_JOB_ID_LENGTH = 256
# GCS object names are at most 1024 bytes of UTF-8: room for "{provider}/" and "/manifest.json".
MAX_JOB_ID_BYTES = 960
MAX_LABELS = 16
MAX_LABEL_KEY_LENGTH = 63
MAX_LABEL_VALUE_LENGTH = 256
MAX_DEADLINE_SECONDS = int(MAX_DEADLINE.total_seconds())
INTEGER_JOB_IDS = frozenset({"sellerpic"})  # SellerPic task ids are int64
MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Submission:
    key: JobKey
    deadline_seconds: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A request body: a JSON object, read within safejson's bounds."""
    try:
        body = safejson.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest(f"{what} must be a JSON object. Found invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest(f"{what} must be a JSON object. Found: {type(body).__name__}")
    return body


def parse_submission(body: Mapping[str, Any], providers: Iterable[str]) -> Submission:
    unknown_fields = set(body) - {"provider", "job_id", "deadline_seconds", "labels"}
    if unknown_fields:
        raise BadRequest(f"unknown fields in the submission: {sorted(unknown_fields)}")
    provider = parse_provider(body.get("provider"), providers)
    return Submission(
        key=JobKey(provider, parse_job_id(body.get("job_id"), provider)),
        deadline_seconds=_parse_deadline(body.get("deadline_seconds")),
        labels=_parse_labels(body.get("labels")),
    )


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
