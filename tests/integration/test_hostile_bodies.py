"""Hostile request bodies through the real app: a 400 (on /poll a dropped task, 200), never a
500 that Cloud Tasks would redeliver forever."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Harness

NESTED = b"[" * 30_000 + b"]" * 30_000
DEEP_LABELS = b'{"a":' + b'{"b":' * 10_000 + b'"c"' + b"}" * 10_000 + b"}"


def submission(**fields: bytes) -> bytes:
    body = {"provider": b'"spacely"', "job_id": b'"hostile-1"', **fields}
    return b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in body.items()) + b"}"


HOSTILE_SUBMISSIONS = [
    pytest.param(NESTED, "levels of nesting", id="nested-30000-deep"),
    pytest.param(submission(labels=DEEP_LABELS), "levels of nesting", id="labels-10000-deep"),
    pytest.param(submission(deadline_seconds=b"1" * 5000), "digits", id="5000-digit-integer"),
    pytest.param(submission(deadline_seconds=b"Infinity"), "finite", id="infinity"),
    pytest.param(submission(deadline_seconds=b"1e400"), "finite", id="1e400"),
    pytest.param(
        b'{"provider": "spacely", "job_id": "../../etc", "job_id": "ok"}',
        "'job_id' twice",
        id="duplicate-job-id",
    ),
]


@pytest.mark.parametrize(("body", "found"), HOSTILE_SUBMISSIONS)
def test_hostile_submissions_are_400s_that_schedule_and_write_nothing(
    harness: Harness, body, found
):
    """'JSON nested 30,000 deep (RecursionError); a 5,000-digit integer (Python's int digit
    limit, ValueError); Infinity or 1e400 in numeric fields (OverflowError); labels nested
    10,000 deep' answered 500; '{"job_id": "../../etc", "job_id": "ok"}' was accepted."""
    answer = harness.client.post("/jobs", data=body, content_type="application/json")
    assert answer.status_code == 400, answer.json
    assert "must be a JSON object" in answer.json["error"] and found in answer.json["error"]
    assert harness.queued() == [] and harness.objects() == {}


@pytest.mark.parametrize(
    "body",
    [NESTED, b'{"id": "../../etc", "id": "ok"}', b'{"id": "g-1", "output": 1' + b"0" * 5000 + b"}"],
    ids=["nested-30000-deep", "duplicate-id", "5000-digit-integer"],
)
def test_hostile_webhooks_are_400s(harness: Harness, body):
    """'The same bodies also get 500 on webhooks.'"""
    answer = harness.client.post("/webhooks/gepetto", data=body, content_type="application/json")
    assert answer.status_code == 400, answer.json
    assert harness.queued() == [] and harness.objects() == {}


RAW = {"@NESTED": NESTED, "@1e400": b"1e400", "@Infinity": b"Infinity", "@BIG": b"9" * 5000}


def poll_task(**change: object) -> bytes:
    """A task as jobcourier writes it, with some fields changed; "@NAME" stands for RAW[NAME],
    JSON that json.dumps would not write."""
    task = {
        "v": 1,
        "provider": "spacely",
        "job_id": "hostile-poll",
        "submitted_at": "2026-11-22T10:00:00.000Z",
        "deadline_at": "2026-11-22T13:00:00.000Z",
        "labels": {},
        "seq": 0,
        "checks": 0,
        "last_status": None,
        "progress": [],
        **change,
    }
    body = json.dumps(task).encode()
    for name, raw in RAW.items():
        body = body.replace(b'"%s"' % name.encode(), raw)
    return body


@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        poll_task(labels={"a": "@NESTED"}),
        poll_task(seq="@1e400"),
        poll_task(last_check_s="@Infinity"),
        poll_task(seq="@BIG"),
        poll_task(job_id="hostile-poll").replace(b'"v": 1', b'"v": 1, "job_id": "../x"'),
    ],
    ids=[
        "nested-30000-deep",
        "labels-30000-deep",
        "seq-1e400",
        "infinity",
        "5000-digit-seq",
        "duplicate-job-id",
    ],
)
def test_hostile_poll_tasks_are_dropped_with_a_200_not_redelivered(harness: Harness, body):
    """'A 500 on /poll makes Cloud Tasks redeliver the same poison task: 76 redeliveries in
    8 s locally.' A task body that cannot be read is dropped, loudly, and nothing is checked."""
    calls = len(harness.spacely.calls)
    answer = harness.client.post("/poll", data=body, content_type="application/json")
    assert answer.status_code == 200, answer.json
    assert answer.json["outcome"] == "dropped"
    assert len(harness.spacely.calls) == calls and harness.queued() == []
