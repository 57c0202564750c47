"""What callers send: every refusal is a 400 that says what is wrong."""

from __future__ import annotations

import pytest

from jobcourier.errors import BadRequest
from jobcourier.model import JobKey
from jobcourier.validation import parse_json_object, parse_submission, parse_task

PROVIDERS = ("spacely", "gepetto", "sellerpic", "fliki")


def test_a_full_submission():
    sub = parse_submission(
        {
            "provider": "spacely",
            "job_id": "068e",
            "deadline_seconds": 10800,
            "labels": {"order": "A-17"},
        },
        PROVIDERS,
    )
    assert sub.key == JobKey("spacely", "068e")
    assert sub.deadline_seconds == 10800.0 and sub.labels == {"order": "A-17"}


def test_sellerpic_ids_may_be_integers_or_digit_strings():
    for given in (1234567890123, "1234567890123"):
        assert parse_submission(
            {"provider": "sellerpic", "job_id": given}, PROVIDERS
        ).key == JobKey("sellerpic", "1234567890123")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"job_id": "x"}, "provider must be one of"),
        ({"provider": "midjourney", "job_id": "x"}, "Found: 'midjourney'"),
        ({"provider": "spacely"}, "job_id must be a string. Found: None"),
        ({"provider": "spacely", "job_id": ""}, "must not be empty"),
        ({"provider": "spacely", "job_id": "x" * 257}, "at most 256 characters. Found: 257"),
        ({"provider": "spacely", "job_id": 42}, "job_id must be a string"),
        ({"provider": "sellerpic", "job_id": True}, "non-negative integer or a string of digits"),
        ({"provider": "sellerpic", "job_id": -1}, "fit in int64"),
        ({"provider": "sellerpic", "job_id": 2**63}, "fit in int64"),
        ({"provider": "sellerpic", "job_id": "12a"}, "string of digits"),
        ({"provider": "sellerpic", "job_id": "١٢"}, "string of digits"),  # non-ASCII digits
        ({"provider": "sellerpic", "job_id": ""}, "string of digits"),
        ({"provider": "sellerpic", "job_id": 1.5}, "string of digits"),
        ({"provider": "spacely", "job_id": "../other"}, "must not contain"),
        ({"provider": "spacely", "job_id": "a/b"}, "must not contain"),
        ({"provider": "spacely", "job_id": "a\\b"}, "must not contain"),
        ({"provider": "spacely", "job_id": ".."}, "must not contain"),
        ({"provider": "spacely", "job_id": "."}, "must not contain"),
        ({"provider": "spacely", "job_id": "a\nb"}, "control characters"),
        ({"provider": "spacely", "job_id": "a\x00b"}, "control characters"),
        ({"provider": "spacely", "job_id": "a\u202eb"}, "control characters"),
        ({"provider": "spacely", "job_id": "ab\ud800"}, "control characters"),  # lone surrogate
        ({"provider": "spacely", "job_id": "\U0001f600" * 250}, "bytes of UTF-8"),
        ({"provider": "spacely", "job_id": "x", "deadline_seconds": 0}, "deadline_seconds"),
        ({"provider": "spacely", "job_id": "x", "deadline_seconds": "60"}, "must be a number"),
        ({"provider": "spacely", "job_id": "x", "deadline_seconds": True}, "must be a number"),
        ({"provider": "spacely", "job_id": "x", "deadline_seconds": 31 * 86400}, "deadline"),
        ({"provider": "spacely", "job_id": "x", "labels": ["a"]}, "labels must be an object"),
        ({"provider": "spacely", "job_id": "x", "labels": {"a": 1}}, "label 'a' must be a str"),
        ({"provider": "spacely", "job_id": "x", "labels": {"": "v"}}, "label keys"),
        (
            {"provider": "spacely", "job_id": "x", "labels": {f"k{i}": "v" for i in range(17)}},
            "at most 16 pairs",
        ),
        ({"provider": "spacely", "job_id": "x", "labels": {"k": "v" * 257}}, "at most 256"),
        ({"provider": "spacely", "job_id": "x", "callback": "y"}, "unknown fields"),
    ],
)
def test_bad_submissions_are_refused_with_a_reason(body, message):
    with pytest.raises(BadRequest, match=None) as caught:
        parse_submission(body, PROVIDERS)
    assert message in str(caught.value)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'"x"', b"\xff\xfe", b"null"])
def test_bodies_that_are_not_json_objects_are_refused(raw):
    with pytest.raises(BadRequest, match="must be a JSON object"):
        parse_json_object(raw, "the submission")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"provider": "spacely", "job_id": "x"},
        {
            "provider": "spacely",
            "job_id": "x",
            "submitted_at": "yesterday",
            "deadline_at": "2026-11-22T10:00:00Z",
        },
        {
            "provider": "spacely",
            "job_id": "x",
            "submitted_at": "2026-11-22T10:00:00",
            "deadline_at": "2026-11-22T10:00:00Z",
        },
        {
            "provider": "spacely",
            "job_id": "x",
            "submitted_at": "2026-11-22T10:00:00Z",
            "deadline_at": "2026-11-22T10:00:00Z",
            "seq": "one",
        },
    ],
)
def test_task_bodies_that_are_not_ours_are_bad_input(body):
    with pytest.raises(BadRequest):
        parse_task(body, ["spacely"])


def test_a_task_round_trips_and_stays_small():
    task = parse_task(
        {
            "provider": "spacely",
            "job_id": "x" * 256,
            "submitted_at": "2026-11-22T10:00:00Z",
            "deadline_at": "2026-11-22T13:00:00.5Z",
            "labels": {f"k{i}": "v" * 256 for i in range(16)},
            "seq": 3,
            "checks": 3,
            "last_status": "processing",
        },
        ["spacely"],
    )
    assert parse_task(task.to_json(), ["spacely"]) == task
    assert len(task.to_bytes()) < 10_000  # Cloud Tasks allows 100 KB
