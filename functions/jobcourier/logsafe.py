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

from jobcourier.text import shorten

# The job this request is about ("spacely/068e..."): every line carries it as `job`, so Cloud
# Logging can filter one job's story (jsonPayload.job="spacely/068e...").
current_job: ContextVar[str | None] = ContextVar("current_job", default=None)

# A word: what lies between white space and quotes. A query is redacted wherever a word holds a
# URL or a bare path and then a query: urllib3 writes "url: /o.mp4?X-Goog-...".
_WORD = re.compile(r"[^\s'\"]+")
# Every log message is cut to this many characters (its beginning and its end), after it is
# redacted: cut first, a query or a key split at the cut would no longer be recognised.
MAX_LOG_MESSAGE = 16 * 1024


class RedactingJsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def redact(self, text: str) -> str:
        text = _WORD.sub(_without_query, text)
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        line = {
            "severity": record.levelname,
            "message": shorten(self.redact(message), MAX_LOG_MESSAGE),
            "logger": record.name,
        }
        job = current_job.get()
        if job is not None:
            line["job"] = self.redact(job)
        return json.dumps(line)


def _without_query(word: re.Match[str]) -> str:
    """The word with its query replaced, if a URL or path comes before the query: "/" then
    no "?" or "#" until the "?", and at least one character after it. One pass over the word,
    so redaction takes time linear in the text (a backtracking pattern took hours on 1 MiB)."""
    text = word.group()
    start = 0  # where the part after the last "?" or "#" begins
    while (mark := text.find("?", start)) != -1 and mark < len(text) - 1:
        fragment = text.rfind("#", start, mark)
        if text.find("/", start if fragment == -1 else fragment + 1, mark) != -1:
            return text[:mark] + "?<redacted>"
        start = mark + 1
    return text


def install(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedactingJsonFormatter(secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, RedactingJsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
