"""Long provider text: cut short where it enters, and redacted from log lines in linear time."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from jobcourier import logsafe
from jobcourier.errors import ProviderError
from jobcourier.model import Observation
from jobcourier.providers import REGISTRY
from jobcourier.text import MAX_TEXT, shorten
from tests.fakes import ScriptedApi, json_answer

KIB = 1024
MIB = 1024 * KIB
# The pattern redaction used before: it backtracked, quadratic in a word with no query.
OLD_QUERY = re.compile(
    r"((?:[a-z][a-z0-9+.-]*://[^\s?#'\"]+)|(?:/[^\s?#'\"]*))\?[^\s'\"]+", re.IGNORECASE
)


def test_shorten_keeps_short_text_and_cuts_long_text_to_the_limit():
    assert shorten("processing") == "processing"
    assert shorten("x" * MAX_TEXT) == "x" * MAX_TEXT
    long = "queued" + "#" * 40_000 + "end"
    short = shorten(long)
    assert len(short) == MAX_TEXT
    assert short.startswith("queued") and short.endswith("end") and "40009 characters" in short
    assert shorten("abcdefgh", limit=4) == "abcd"  # no room for the marker


def _best_time(action: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", ["/", "a", "a ", "/#?a", "https://h.example/p?q=1 "])
def test_redaction_time_grows_linearly_with_the_line(unit):
    """'Redacting a 4,000-character line takes 0.2 s; 16,000 characters take 2.9 s ... At the
    1 MiB answer cap, one log line would take hours.' Every bound here is a hundred times or
    more what a linear scan needs; the backtracking pattern took 1.1 s for 16 KiB of '/'."""
    formatter = logsafe.RedactingJsonFormatter(secrets=["sk-live-123456"])

    def cost(size: int) -> float:
        text = unit * (size // len(unit))
        return _best_time(lambda: formatter.redact(text))

    assert cost(16 * KIB) < 0.5
    small, large = cost(128 * KIB), cost(MIB)
    assert large < 5.0
    assert large < 24 * small + 0.05  # 8 times the text: 8 times the cost, not 64


ALPHABET = "/?#:a.Z9 '\"\t-"


@pytest.mark.parametrize("seed", range(5))
def test_redaction_hides_what_the_old_pattern_hid(seed):
    """The linear scan redacts exactly what the backtracking pattern did (on ASCII text)."""
    rand = random.Random(seed)
    formatter = logsafe.RedactingJsonFormatter()
    for _ in range(2000):
        text = "".join(rand.choice(ALPHABET) for _ in range(rand.randint(0, 24)))
        assert formatter.redact(text) == OLD_QUERY.sub(r"\1?<redacted>", text), repr(text)


def test_a_huge_log_message_is_cut_after_its_query_and_keys_are_redacted():
    formatter = logsafe.RedactingJsonFormatter(secrets=["sk-live-123456"])
    # The key and a signed query sit where the cut falls: cut first, halves would survive.
    middle = logsafe.MAX_LOG_MESSAGE * 2 // 3 - 40
    message = (
        "x " * (middle // 2)
        + "key sk-live-123456 url https://h.example/o.png?X-Goog-Signature="
        + "5ec7e7" * 1000
        + " y" * MIB
    )
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, message, (), None)
    line = json.loads(formatter.format(record))
    assert len(line["message"]) == logsafe.MAX_LOG_MESSAGE
    assert "sk-live" not in line["message"] and "5ec7e7" not in line["message"]
    assert "-123456" not in line["message"]


# -- where provider text enters ----------------------------------------------------------------
HUGE = "Q" * 40_000  # 'One provider status word of 40,000 characters froze an instance'


def _answers(provider: str) -> list[dict[str, Any]]:
    """Answers of `provider` whose status words and messages are 40,000 characters long."""
    if provider == "spacely":
        return [
            {"data": {"status": HUGE}},
            {"data": {"status": "failed", "message": HUGE}},
        ]
    if provider == "gepetto":
        return [{"status": HUGE}, {"status": "failed", "error": HUGE}]
    if provider == "fliki":
        return [{"status": HUGE}, {"status": "error"}]
    items = [{"id": n, "status": "FAILED", "errorMsg": HUGE} for n in range(3)]
    return [
        {"code": 0, "data": {"resultList": [{"id": 1, "status": HUGE}]}},
        {"code": 0, "data": {"resultList": items}},
        {"code": 0, "data": {"resultList": [*items, {"id": 9, "status": "SUCCESS"}]}},
        {"code": 0, "data": {"resultList": [{"id": HUGE, "status": "FAILED"}]}},
    ]


def _texts(seen: Observation) -> list[str]:
    return [
        seen.raw_status,
        seen.message or "",
        *(o.error or "" for o in seen.outputs),
    ]


@pytest.mark.parametrize("provider", sorted(REGISTRY))
def test_provider_text_is_cut_short_where_it_enters(provider):
    """'Long provider text must be cut short before it reaches a log line, a manifest (error
    message, last status) or a task body.'"""
    for body in _answers(provider):
        seen = REGISTRY[provider].check(ScriptedApi([json_answer(body)]), "1")
        assert all(len(text) <= MAX_TEXT for text in _texts(seen)), body.keys()


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("sellerpic", {"code": 40001, "msg": HUGE}),
        ("sellerpic", {"code": 0, "data": {"resultList": [], "fileUrl": None, "errorMsg": HUGE}}),
    ],
)
def test_errors_built_from_provider_answers_are_cut_short(provider, body):
    module = REGISTRY[provider]
    api = ScriptedApi([json_answer(body)])
    with pytest.raises(ProviderError) as raised:
        if body["code"]:
            module.check(api, "1")
        else:
            from jobcourier.model import Output

            module.resolve_url(api, Output(url=None, item_id=HUGE))
    assert len(str(raised.value)) <= 2 * MAX_TEXT + 100
