"""Log lines as Cloud Logging reads them (one JSON object with a severity), with secrets out.

Whatever a library puts into a message, query strings (signed URLs hold credentials there)
and the configured API keys never reach the log.

Every line about a job carries it flat (`provider`, `job_id`, and `job`: "spacely/068e...")
and in `logging.googleapis.com/labels`, which Cloud Logging indexes; every line of a request
that carried `traceparent` or `X-Cloud-Trace-Context` carries `logging.googleapis.com/trace`.
The events of docs/contract.md#log-events (`event(...)`) add an `event` name and flat fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar

# The job this request is about, as (provider, job_id): every line carries it, so Cloud
# Logging can filter one job's story (jsonPayload.job_id="068e...").
current_job: ContextVar[tuple[str, str] | None] = ContextVar("current_job", default=None)
# The request's trace, as Cloud Logging names it: projects/P/traces/T.
current_trace: ContextVar[str | None] = ContextVar("current_trace", default=None)

TRACE = "logging.googleapis.com/trace"
LABELS = "logging.googleapis.com/labels"
_EVENT = "jobcourier_event"  # LogRecord attributes that event() sets
_FIELDS = "jobcourier_fields"
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/.*)?")
Field = str | int | float | bool | None

# A URL or a bare path, then its query: urllib3 writes "url: /o.mp4?X-Goog-...". That is, a
# stretch without space, quote, "?" or "#" that holds a "/", then "?" and the query. A match
# may begin only where such a stretch begins, so each stretch is scanned once: the time taken
# grows with the text's length, not with its square (a provider's 40,000-character status
# word took seconds, and a 1 MiB one hours, holding the interpreter, so every request of the
# instance, while it was redacted).
_QUERY = re.compile(r"(?<![^\s?#'\"])([^\s?#'\"/]*/[^\s?#'\"]*)\?[^\s'\"]+")


class RedactingJsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def redact(self, text: str) -> str:
        text = _QUERY.sub(r"\1?<redacted>", text)
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        line: dict[str, object] = {
            "severity": record.levelname,
            "message": self.redact(message),
            "logger": record.name,
        }
        line.update(self._context())
        name = getattr(record, _EVENT, None)
        if name is not None:
            line["event"] = name
            fields: Mapping[str, Field] = getattr(record, _FIELDS, {})
            for key, value in fields.items():
                line.setdefault(key, self.redact(value) if isinstance(value, str) else value)
        return json.dumps(line)

    def _context(self) -> dict[str, object]:
        context: dict[str, object] = {}
        job = current_job.get()
        if job is not None:
            provider, job_id = job[0], self.redact(job[1])
            context.update(provider=provider, job_id=job_id, job=f"{provider}/{job_id}")
            context[LABELS] = {"provider": provider, "job_id": job_id}
        trace = current_trace.get()
        if trace is not None:
            context[TRACE] = trace
        return context


def event(
    logger: logging.Logger,
    name: str,
    message: str,
    *args: object,
    level: int = logging.INFO,
    **fields: Field,
) -> None:
    """Log one event of docs/contract.md#log-events: `name` as `event`, `fields` flat beside
    the job's `provider` and `job_id`."""
    logger.log(level, message, *args, extra={_EVENT: name, _FIELDS: fields})


def set_job(provider: str, job_id: str) -> None:
    current_job.set((provider, job_id))


def set_trace(traceparent: str | None, cloud_trace: str | None, project: str | None) -> None:
    """The request's trace from its `traceparent` (W3C) or `X-Cloud-Trace-Context` header,
    when well formed; anything else (a hostile header) is ignored."""
    trace_id = None
    parent = _TRACEPARENT.fullmatch((traceparent or "")[:64])
    if parent is not None:
        trace_id = parent.group(1)
    else:
        cloud = _CLOUD_TRACE.fullmatch((cloud_trace or "")[:128])
        if cloud is not None:
            trace_id = cloud.group(1).lower()
    if trace_id is None or trace_id == "0" * 32:
        current_trace.set(None)
    elif project:
        current_trace.set(f"projects/{project}/traces/{trace_id}")
    else:
        current_trace.set(trace_id)


def install(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedactingJsonFormatter(secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, RedactingJsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
