"""A provider's status word of any length: cut short before it is carried anywhere (found by
the fault suite, tests/faults/test_long_status.py: a 40,000-character word held an instance for
seconds per log line, a 1 MiB one for hours; tests/unit/test_long_text.py has the redaction's
own cost)."""

from __future__ import annotations

import json
import logging
import re

from jobcourier import logsafe
from jobcourier.text import MAX_TEXT as MAX_STATUS_TEXT
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
    assert 0 < _longest_x_run(json.dumps(m)) <= MAX_STATUS_TEXT
    assert bodies and 0 < max(_longest_x_run(b) for b in bodies) <= MAX_STATUS_TEXT
    formatter = logsafe.RedactingJsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"event": "status_unrecognised"' in line for line in lines)
    assert 0 < max(_longest_x_run(line) for line in lines) <= MAX_STATUS_TEXT


def test_redaction_still_removes_queries_after_a_long_word():
    formatter = logsafe.RedactingJsonFormatter()
    text = "x" * 100_000 + " GET https://h.example/o.png?X-Goog-Signature=abc done"
    assert formatter.redact(text).endswith(" GET https://h.example/o.png?<redacted> done")
