"""A provider's status word of any length: cut short before it is carried anywhere, and the log
formatter's redaction takes time in proportion to a text's length (found by the fault suite,
tests/faults/test_long_status.py: a 40,000-character word held an instance for seconds per
log line, a 1 MiB one for hours)."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest

from jobcourier import logsafe
from jobcourier.model import MAX_STATUS_TEXT
from jobcourier.validation import Submission
from tests.fakes import json_answer
from tests.unit.test_courier import KEY, manifest, run_chain, world

MIB = 1024 * 1024


def _longest_x_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"x+", text)), default=0)


def test_a_long_unknown_status_is_cut_short_in_logs_tasks_and_the_manifest(caplog):
    caplog.set_level(logging.INFO)
    w = world(json_answer({"data": {"status": "x" * 40_000, "result": []}}))
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=300))
    bodies = []
    for _ in range(100):
        if not w.scheduler.tasks:
            break
        bodies += [t.body.decode() for t in w.scheduler.tasks]
        run_chain(w, limit=1)
    m = manifest(w)
    assert m["state"] == "timed_out" and m["error"]["code"] == "deadline_passed"
    assert _longest_x_run(json.dumps(m)) == MAX_STATUS_TEXT
    assert bodies and max(_longest_x_run(b) for b in bodies) == MAX_STATUS_TEXT
    formatter = logsafe.RedactingJsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"event": "status_unrecognised"' in line for line in lines)
    assert max(_longest_x_run(line) for line in lines) == MAX_STATUS_TEXT


@pytest.mark.parametrize(
    "text",
    ["x" * MIB, "/" * MIB, "a/" * (MIB // 2), "x." * (MIB // 2) + "?q", "https://" * (MIB // 8)],
    ids=["letters", "slashes", "path", "dots-then-query", "schemes"],
)
def test_redaction_takes_time_in_proportion_to_the_text(text):
    formatter = logsafe.RedactingJsonFormatter()
    started = time.perf_counter()
    formatter.redact(text)
    # Milliseconds here; before, hours for 1 MiB (a match was tried from every position).
    assert time.perf_counter() - started < 2.0


def test_redaction_still_removes_queries_after_a_long_word():
    formatter = logsafe.RedactingJsonFormatter()
    text = "x" * 100_000 + " GET https://h.example/o.png?X-Goog-Signature=abc done"
    assert formatter.redact(text).endswith(" GET https://h.example/o.png?<redacted> done")
