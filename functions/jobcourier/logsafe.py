"""Log lines as Cloud Logging reads them (one JSON object with a severity), with secrets out.

Whatever a library puts into a message, query strings (signed URLs hold credentials there)
and the configured API keys never reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar

# The job this request is about ("spacely/068e..."): every line carries it as `job`, so Cloud
# Logging can filter one job's story (jsonPayload.job="spacely/068e...").
current_job: ContextVar[str | None] = ContextVar("current_job", default=None)

# A URL (any case) or a bare path, then its query: urllib3 writes "url: /o.mp4?X-Goog-...".
_QUERY = re.compile(
    r"((?:[a-z][a-z0-9+.-]*://[^\s?#'\"]+)|(?:/[^\s?#'\"]*))\?[^\s'\"]+", re.IGNORECASE
)


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
        line = {
            "severity": record.levelname,
            "message": self.redact(message),
            "logger": record.name,
        }
        job = current_job.get()
        if job is not None:
            line["job"] = self.redact(job)
        return json.dumps(line)


def install(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedactingJsonFormatter(secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, RedactingJsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
