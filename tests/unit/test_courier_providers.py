"""The decision logic with the other providers' shapes: webhooks, several outputs, fresh
links, progress."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from jobcourier.errors import DownloadExpired, NoRoute
from jobcourier.model import JobKey, TaskKind
from jobcourier.ports import ApiResponse
from jobcourier.validation import Submission
from tests.fakes import ScriptedApi, World, json_answer
from tests.unit.test_courier import manifest, run_chain

GEPETTO = JobKey("gepetto", "g-1")
PENDING = json_answer({"status": "pending", "id": "g-1"})
DONE = json_answer({"status": "success", "output": "https://cdn.gepetto.test/g-1.png"})


def gepetto_world(*script) -> World:
    w = World(api=ScriptedApi(list(script)))
    w.downloader.served = {"https://cdn.gepetto.test/g-1.png": ("image/png", b"\x89PNG g")}
    return w


def test_a_webhook_prompts_one_check_now_that_does_not_fork_the_chain():
    w = gepetto_world(PENDING)
    courier = w.courier()
    courier.submit(Submission(GEPETTO))
    chain = w.scheduler.tasks[0]
    assert chain.at - w.clock.now == timedelta(seconds=45)  # blind: no later than the target
    w.clock.advance(5)
    answer = courier.webhook("gepetto", {"id": "g-1", "output": "https://evil.test/x.png"})
    assert answer.http_status == 202 and answer.body["outcome"] == "check_scheduled"
    prompt = w.scheduler.tasks[1]
    assert prompt.at == w.clock.now and prompt.task.kind is TaskKind.PROMPT
    assert courier.poll(prompt.task).body == {"outcome": "checked", "status": "pending"}
    assert len(w.scheduler.tasks) == 2  # nothing new: the chain goes on by itself
    again = courier.webhook("gepetto", {"id": "g-1", "output": None})
    assert again.body["outcome"] == "duplicate"


def test_a_webhook_racing_the_chain_copies_once_and_trusts_only_the_status_api():
    w = gepetto_world(DONE)
    courier = w.courier()
    courier.submit(Submission(GEPETTO))
    courier.webhook("gepetto", {"id": "g-1", "output": "https://evil.test/x.png"})
    chain, prompt = w.scheduler.tasks
    assert courier.poll(prompt.task).body["state"] == "succeeded"
    assert courier.poll(chain.task).body["outcome"] == "stopped"  # settled: not asked again
    assert w.downloader.opened == ["https://cdn.gepetto.test/g-1.png"]
    assert [n for n in w.store.writes if n.startswith("gepetto/")] == [
        "gepetto/g-1/00.png",
        "gepetto/g-1/manifest.json",
    ]


def test_a_webhook_before_its_submission_is_recorded_and_hastens_the_first_check():
    w = gepetto_world(DONE)
    courier = w.courier()
    answer = courier.webhook("gepetto", {"id": "g-1", "output": "x"})
    assert answer.http_status == 202 and answer.body["outcome"] == "recorded"
    assert w.scheduler.tasks == []
    courier.submit(Submission(GEPETTO))
    assert w.scheduler.tasks[0].at == w.clock.now


def test_webhooks_for_settled_jobs_and_for_providers_without_webhooks():
    w = gepetto_world(DONE)
    courier = w.courier()
    courier.submit(Submission(GEPETTO))
    run_chain(w)
    assert courier.webhook("gepetto", {"id": "g-1"}).body["outcome"] == "already_settled"
    with pytest.raises(NoRoute, match="spacely sends no webhooks"):
        courier.webhook("spacely", {"id": "x"})


SELLERPIC = JobKey("sellerpic", "1234567890123")


def sellerpic_answer(*statuses: str) -> ApiResponse:
    items = [
        {
            "id": 900 + n,
            "fileUrl": f"https://cdn.sp.test/{n}.png",
            "status": s,
            "errorCode": 7 if s == "FAILED" else 0,
            "errorMsg": "bad pose" if s == "FAILED" else "",
        }
        for n, s in enumerate(statuses)
    ]
    return json_answer({"code": 0, "data": {"resultList": items}, "success": True, "traceId": "t"})


def link(url: str) -> ApiResponse:
    return json_answer({"code": 0, "data": {"name": "x", "status": "SUCCESS", "fileUrl": url}})


def test_sellerpic_partial_stores_the_successes_through_fresh_download_links():
    w = World(
        api=ScriptedApi(
            [
                sellerpic_answer("RUNNING", "RUNNING", "RUNNING"),
                sellerpic_answer("SUCCESS", "FAILED", "SUCCESS"),
                link("https://dl.sp.test/a?Expires=1"),
                link("https://dl.sp.test/c?Expires=1"),
            ]
        )
    )
    w.downloader.served = {
        "https://dl.sp.test/a?Expires=1": ("image/png", b"A"),
        "https://dl.sp.test/c?Expires=1": ("image/png", b"C"),
    }
    w.courier().submit(Submission(SELLERPIC))
    run_chain(w)
    m = manifest(w, SELLERPIC)
    assert m["state"] == "partial" and m["checks"] == 2
    assert [(f["name"], f["source"]) for f in m["files"]] == [
        ("00.png", "https://dl.sp.test/a"),
        ("02.png", "https://dl.sp.test/c"),
    ]
    assert "bad pose" in m["error"]["message"]
    checks = [c for c in w.api.calls if c[0] == "/v1/api/generate"]
    assert len(checks) == 2


def test_sellerpic_checks_are_at_least_a_minute_apart():
    w = World(api=ScriptedApi([sellerpic_answer("RUNNING")]))
    w.courier().submit(Submission(SELLERPIC, deadline_seconds=1800))
    times = []
    courier = w.courier()
    while w.scheduler.tasks:
        item = w.scheduler.pop()
        w.clock.now = max(w.clock.now, item.at)
        times.append(w.clock.now)
        courier.poll(item.task)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 60


def test_an_expired_link_is_asked_for_again_not_failed():
    w = World(
        api=ScriptedApi(
            [
                sellerpic_answer("SUCCESS"),
                link("https://dl.sp.test/old"),
                link("https://dl.sp.test/new"),
            ]
        )
    )
    w.downloader.served = {
        "https://dl.sp.test/old": DownloadExpired("HTTP 403"),
        "https://dl.sp.test/new": ("image/png", b"fresh"),
    }
    w.courier().submit(Submission(SELLERPIC))
    run_chain(w)
    m = manifest(w, SELLERPIC)
    assert m["state"] == "succeeded" and m["files"][0]["source"] == "https://dl.sp.test/new"
    assert w.downloader.opened == ["https://dl.sp.test/old", "https://dl.sp.test/new"]


def test_fliki_progress_travels_with_the_task():
    w = World(
        api=ScriptedApi(
            [
                json_answer({"fileId": "f", "status": "processing", "progress": 10}),
                json_answer({"fileId": "f", "status": "processing", "progress": 35}),
                json_answer({"fileId": "f", "status": "processing", "progress": 60}),
            ]
        )
    )
    courier = w.courier()
    courier.submit(Submission(JobKey("fliki", "f")))
    for _ in range(3):
        item = w.scheduler.pop()
        w.clock.now = item.at
        courier.poll(item.task)
    task = w.scheduler.tasks[0].task
    assert [f for _, f in task.progress] == [0.1, 0.35, 0.6]
    assert task.progress[0][0] == 55.0  # first check: first_check_s, no later than the target
    assert len(json.loads(w.scheduler.tasks[0].body)["progress"]) == 3
