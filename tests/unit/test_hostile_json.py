"""JSON from outside, read within bounds: provider answers that cannot be read are protocol
errors (retried until the deadline), never a crash of the invocation."""

from __future__ import annotations

import json
import time

import pytest

from jobcourier import safejson
from jobcourier.errors import BadRequest, ProviderProtocolError
from jobcourier.model import JobKey
from jobcourier.ports import ApiResponse
from jobcourier.providers import spacely
from jobcourier.validation import Submission, parse_json_object
from tests.fakes import ScriptedApi, World, json_answer

DEEP = b'{"data": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"

HOSTILE = [
    pytest.param(DEEP, "levels of nesting", id="nested-200000-deep"),
    pytest.param(b'{"data": {"status": 1' + b"0" * 5000 + b"}}", "digits", id="5000-digits"),
    pytest.param(b'{"data": {"progress": NaN}}', "finite", id="nan"),
    pytest.param(b'{"data": {"progress": Infinity}}', "finite", id="infinity"),
    pytest.param(b'{"data": {"progress": -Infinity}}', "finite", id="minus-infinity"),
    pytest.param(b'{"data": {"progress": 1e400}}', "finite", id="1e400"),
    pytest.param(
        b'{"data": {"status": "failed", "status": "success", "result": ["https://x/1.png"]}}',
        "'status' twice",
        id="duplicate-key",
    ),
]


@pytest.mark.parametrize(("body", "found"), HOSTILE)
def test_hostile_provider_answers_are_protocol_errors(body, found):
    """'A status answer nested 200,000 deep ended a job failed/internal_error after 12
    attempts. That is a provider protocol error, to be retried until the deadline.'"""
    with pytest.raises(ProviderProtocolError, match=found):
        ApiResponse(200, body).json()
    with pytest.raises(ProviderProtocolError):
        spacely.check(ScriptedApi([ApiResponse(200, body)]), "ref")


@pytest.mark.parametrize(("body", "found"), HOSTILE)
def test_hostile_request_bodies_are_bad_requests(body, found):
    with pytest.raises(BadRequest, match=found):
        parse_json_object(body, "the submission")


def test_a_deeply_nested_status_answer_reschedules_the_check():
    key = JobKey("spacely", "deep-1")
    success = json_answer({"data": {"status": "success", "result": ["https://x.test/1.png"]}})
    w = World(api=ScriptedApi([ApiResponse(200, DEEP), success]))
    w.downloader.served = {"https://x.test/1.png": ("image/png", b"\x89PNG")}
    courier = w.courier()
    courier.submit(Submission(key))
    first = w.scheduler.pop()
    answer = courier.poll(first.task)
    assert answer.http_status == 200 and answer.body["outcome"] == "rescheduled"
    assert courier.poll(w.scheduler.pop().task).body["state"] == "succeeded"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "[[[[{{{{", "b": [1, 2.5, -3, true, null]}',  # brackets inside strings
        '{"a": "\\"[[[["}',  # an escaped quote does not end the string
        "[" * safejson.MAX_DEPTH + "]" * safejson.MAX_DEPTH,
        '{"id": -' + "9" * safejson.MAX_INTEGER_DIGITS + "}",
        '{"x": 1e308, "y": -0.0}',
    ],
)
def test_ordinary_json_is_read_as_the_standard_parser_reads_it(text):
    assert safejson.loads(text) == json.loads(text)
    assert safejson.loads(text.encode("utf-16")) == json.loads(text)


def test_the_depth_check_is_one_pass_even_over_unterminated_strings():
    """An unterminated string full of escaped quotes: a pattern that could fail and retry
    from each quote would take quadratic time; this one reads it once."""
    text = '["' + '\\"' * 500_000 + "\\"
    started = time.perf_counter()
    with pytest.raises(ValueError):
        safejson.loads(text)
    assert time.perf_counter() - started < 5.0  # about 50 ms; quadratic would be hours
