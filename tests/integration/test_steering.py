"""The operating and steering surface through the real app, the GCS emulator and the Cloud
Tasks emulator: listing, cancel, replay (and its race), the sweep of a stalled chain, signed
callbacks answered 500 twice, log events, and poison task bodies."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.receiver import CallbackReceiver
from devstack.stack import CALLBACK_SECRET
from tests.integration.conftest import Harness


def job_id(prefix: str = "j") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def submit(harness: Harness, jid: str, **extra: Any) -> Any:
    return harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid, **extra})


def chain_tasks(harness: Harness) -> list[Any]:
    return [
        t for t in harness.queued() if json.loads(t.http_request.body).get("kind") != "callback"
    ]


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver(CALLBACK_SECRET)
    try:
        yield server
    finally:
        server.stop()


def events(out: str, name: str, job: str | None = None) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == name and job in (None, e.get("job_id"))]


# -- GET /jobs?state=pending -------------------------------------------------------------------
def test_the_list_shows_jobs_in_flight_with_what_their_queue_holds(harness: Harness):
    jobs = [job_id("list") for _ in range(3)]
    for jid in jobs:
        harness.spacely.add_job(jid, pending_checks=50)
        assert submit(harness, jid).status_code == 202
    first = chain_tasks(harness)[0]
    assert harness.deliver(first).json["outcome"] == "rescheduled"
    seen: dict[str, Any] = {}
    token, pages = None, 0
    while True:
        query = {"state": "pending", "limit": "2", **({"page_token": token} if token else {})}
        page = harness.client.get("/jobs", query_string=query)
        assert page.status_code == 200, page.json
        seen |= {j["job_id"]: j for j in page.json["jobs"]}
        token, pages = page.json["next_page_token"], pages + 1
        if token is None:
            break
    assert set(seen) == set(jobs) and pages == 2
    checked = seen[json.loads(first.http_request.body)["job_id"]]
    assert checked["checks"] == 1 and checked["last_status"] == "processing"
    assert checked["next_check_at"].endswith("Z") and checked["deadline_at"].endswith("Z")
    assert all(j["state"] == "pending" for j in seen.values())


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"state": "done"},
        {"state": "pending", "limit": "0"},
        {"state": "pending", "limit": "1001"},
        {"state": "pending", "limit": "ten"},
        {"state": "pending", "page_token": "bm90LW91cnM"},
        {"state": "pending", "provider": "midjourney"},
        {"state": "pending", "color": "blue"},
    ],
)
def test_a_bad_list_query_is_400(harness: Harness, query: dict[str, str]):
    answer = harness.client.get("/jobs", query_string=query)
    assert answer.status_code == 400 and answer.json["error"]


# -- cancel ------------------------------------------------------------------------------------
def test_cancel_writes_a_canceled_manifest_and_the_chain_stops(harness: Harness, capsys):
    jid = job_id("cancel")
    harness.spacely.add_job(jid, pending_checks=50)
    submit(harness, jid)
    [task] = chain_tasks(harness)
    answer = harness.client.post(f"/jobs/spacely/{jid}/cancel", json={"reason": "wrong prompt"})
    assert answer.status_code == 200 and answer.json["state"] == "canceled"
    assert answer.json["manifest"]["error"] == {"code": "canceled", "message": "wrong prompt"}
    calls = len(harness.spacely.status_calls("/api/v1/generate/poll-result"))
    assert harness.deliver(task).json == {"outcome": "stopped"}
    assert len(harness.spacely.status_calls("/api/v1/generate/poll-result")) == calls
    again = harness.client.post(f"/jobs/spacely/{jid}/cancel")  # an empty body is fine
    assert again.status_code == 200 and again.json == answer.json
    out = capsys.readouterr().out
    assert len(events(out, "job_canceled", jid)) == 1
    assert [e["state"] for e in events(out, "job_settled", jid)] == ["canceled"]
    missing = harness.client.post(f"/jobs/spacely/{job_id()}/cancel")
    assert missing.status_code == 404


def test_cancel_racing_a_delivery_leaves_one_manifest_and_the_answer_says_which(
    harness: Harness,
):
    jid = job_id("race")
    harness.spacely.add_job(jid, pending_checks=0, files=3)
    submit(harness, jid)
    task = harness.take()
    answers: dict[str, Any] = {}

    def deliver() -> None:
        answers["delivery"] = harness.deliver(task).json

    def cancel() -> None:
        answers["cancel"] = harness.client.post(f"/jobs/spacely/{jid}/cancel")

    threads = [threading.Thread(target=deliver), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    manifest = harness.manifest(jid)
    cancel_answer = answers["cancel"]
    if manifest["state"] == "canceled":
        assert cancel_answer.status_code == 200 and cancel_answer.json["state"] == "canceled"
    else:
        assert manifest["state"] == "succeeded"
        assert cancel_answer.status_code == 409 and cancel_answer.json["state"] == "succeeded"
    assert answers["delivery"]["state"] in (manifest["state"], None)


# -- replay ------------------------------------------------------------------------------------
def test_replay_runs_a_failed_job_again_under_new_task_names(harness: Harness, capsys):
    jid = job_id("replay")
    harness.spacely.add_job(jid, pending_checks=0, final_status="failed")
    submit(harness, jid, deadline_seconds=900)
    first = harness.take()
    assert harness.deliver(first).json["state"] == "failed"
    old = harness.bucket.get_blob(f"spacely/{jid}/manifest.json")
    harness.spacely.add_job(jid, pending_checks=0, files=2)
    answer = submit(harness, jid, replay=True)
    assert answer.status_code == 202 and answer.json["replayed"] is True
    assert harness.bucket.get_blob(f"spacely/{jid}/manifest.json") is None
    archived = harness.bucket.blob(f"_jobcourier/history/spacely/{jid}/{old.generation}.json")
    assert json.loads(archived.download_as_bytes())["state"] == "failed"
    second = harness.take()
    assert second.name != first.name
    assert harness.deliver(second).json["state"] == "succeeded"
    assert len(events(capsys.readouterr().out, "job_replayed", jid)) == 1
    refused = submit(harness, jid, replay=True)
    assert refused.status_code == 409 and refused.json["state"] == "succeeded"


def test_replays_racing_each_other_start_one_chain(harness: Harness):
    jid = job_id("replays")
    harness.spacely.add_job(jid, pending_checks=0, final_status="failed")
    submit(harness, jid)
    harness.deliver(harness.take())
    harness.spacely.add_job(jid, pending_checks=5)
    answers: list[Any] = []
    lock = threading.Lock()

    def replay() -> None:
        answer = submit(harness, jid, replay=True)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [202] * 4
    chains = {json.loads(t.http_request.body)["chain"] for t in chain_tasks(harness)}
    assert len(chains) == 1 and len(chain_tasks(harness)) == 1
    assert sum(1 for a in answers if not a.json.get("duplicate")) == 1


# -- POST /sweep -------------------------------------------------------------------------------
def test_the_sweep_settles_a_chain_stalled_in_its_queue_and_leaves_live_ones(
    harness: Harness, capsys
):
    """Scaled as in local runs: a 60 min grace is 3.6 s at 0.001."""
    harness.restart(JOBCOURIER_DELAY_SCALE="0.001")
    stalled, live = job_id("stalled"), job_id("live")
    for jid in (stalled, live):
        harness.spacely.add_job(jid, pending_checks=50)
    assert submit(harness, stalled, deadline_seconds=60).status_code == 202
    assert submit(harness, live, deadline_seconds=30 * 24 * 3600).status_code == 202
    harness.tasks.purge_queue(name=harness.queue)  # the chains' tasks are gone
    time.sleep(60 * 0.001 + 3600 * 0.001 + 0.5)
    swept = harness.client.post("/sweep")
    assert swept.status_code == 200 and swept.json == {"scanned": 2, "settled": 1}
    manifest = harness.manifest(stalled)
    assert manifest["state"] == "timed_out" and manifest["error"]["code"] == "chain_lost"
    assert harness.bucket.get_blob(f"spacely/{live}/manifest.json") is None
    assert harness.client.get(f"/jobs/spacely/{live}").json["state"] == "pending"
    assert harness.client.post("/sweep", json={}).json == {"scanned": 1, "settled": 0}
    assert harness.client.post("/sweep", json={"all": True}).status_code == 400
    [settled] = events(capsys.readouterr().out, "job_settled", stalled)
    assert settled["error_code"] == "chain_lost"


# -- callbacks ---------------------------------------------------------------------------------
def test_a_callback_answered_500_twice_arrives_on_the_third_try_signed_alike(
    harness: Harness, receiver: CallbackReceiver, capsys
):
    jid = job_id("callback")
    harness.spacely.add_job(jid, pending_checks=0, files=1)
    url = receiver.url_for(jid, fail_first=[500, 500])
    assert submit(harness, jid, callback_url=url).status_code == 202
    assert harness.deliver(harness.take()).json["state"] == "succeeded"
    outcomes = []
    for _ in range(3):
        [callback] = harness.queued()
        harness.tasks.purge_queue(name=harness.queue)
        outcomes.append(harness.deliver(callback).json["outcome"])
    assert outcomes == ["retrying", "retrying", "delivered"]
    deliveries = receiver.wait_for(jid, 3)
    assert [d.status for d in deliveries] == [500, 500, 200]
    assert all(d.verified for d in deliveries)
    assert len({d.webhook_id for d in deliveries}) == 1
    assert deliveries[0].body == {"type": "job.settled", "data": harness.manifest(jid)}
    assert "callback_url" not in json.dumps(harness.manifest(jid))
    out = capsys.readouterr().out
    assert [e["attempt"] for e in events(out, "callback_failed", jid)] == [1, 2]
    assert [e["http_status"] for e in events(out, "callback_delivered", jid)] == [200]
    assert url not in out  # its host at most: never the whole URL in a log line


def test_a_callback_url_that_could_reach_inside_is_refused(harness: Harness):
    for url in ("ftp://example.com/x", "https://user:pw@example.com/x", "http://169.254.169.254/"):
        answer = submit(harness, job_id(), callback_url=url)
        assert answer.status_code == 400, url
    assert harness.queued() == []


def test_without_a_secret_callbacks_are_refused_with_the_reason(harness: Harness):
    harness.restart(JOBCOURIER_CALLBACK_SECRET="")
    answer = submit(harness, job_id(), callback_url="https://example.com/hook")
    assert answer.status_code == 500 and "JOBCOURIER_CALLBACK_SECRET" in answer.json["error"]
    assert harness.queued() == []


# -- events ------------------------------------------------------------------------------------
def test_each_event_once_with_flat_fields_labels_and_the_trace(harness: Harness, capsys):
    jid = job_id("events")
    harness.spacely.add_job(jid, pending_checks=1, files=2)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid}, headers=headers)
    harness.deliver(harness.take(), **{"X-Cloud-Trace-Context": f"{trace}/1;o=1"})
    harness.deliver(harness.take())
    out = capsys.readouterr().out
    [submitted] = events(out, "job_submitted", jid)
    assert submitted["provider"] == "spacely" and submitted["deadline_at"].endswith("Z")
    assert submitted["logging.googleapis.com/trace"] == f"projects/test-project/traces/{trace}"
    assert submitted["logging.googleapis.com/labels"] == {"provider": "spacely", "job_id": jid}
    checked = events(out, "job_checked", jid)
    assert [(e["status"], e["outcome"]) for e in checked] == [
        ("processing", "rescheduled"),
        ("success", "settled"),
    ]
    assert checked[0]["next_check_in_s"] > 0 and checked[1]["next_check_in_s"] is None
    [settled] = events(out, "job_settled", jid)
    assert settled["state"] == "succeeded" and settled["error_code"] is None
    assert settled["checks"] == 2 and settled["files"] == 2 and settled["bytes"] > 0
    assert settled["duration_s"] >= 0
    harness.deliver(harness.take()) if harness.queued() else None
    assert len(events(capsys.readouterr().out, "job_settled", jid)) == 0  # never twice


def test_a_rejected_key_and_an_unrecognised_status_are_events(harness: Harness, capsys):
    jid = job_id("odd")
    harness.spacely.add_job(jid, pending_checks=0, final_status="rendering")
    submit(harness, jid)
    harness.deliver(harness.take())
    [odd] = events(capsys.readouterr().out, "status_unrecognised", jid)
    assert odd["status"] == "rendering" and odd["severity"] == "WARNING"
    harness.restart(SPACELY_API_KEY="a-key-the-provider-refuses")
    harness.deliver(harness.take())
    [rejected] = events(capsys.readouterr().out, "provider_key_rejected", jid)
    assert rejected["http_status"] == 401 and rejected["severity"] == "ERROR"
    assert "a-key-the-provider-refuses" not in json.dumps(rejected)


# -- hostile task bodies -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [{"job_id": "victim-2/sub"}, {"job_id": ""}, {"job_id": "../x"}, {"checks": 10**12}],
)
def test_a_malformed_poll_task_is_dropped_with_200_and_writes_nothing(
    harness: Harness, change: dict[str, Any], capsys
):
    jid = job_id("victim")
    harness.spacely.add_job(jid, pending_checks=0, files=1)
    submit(harness, jid)
    task = harness.take()
    body = {**json.loads(task.http_request.body), **change}
    answer = harness.client.post("/poll", json=body)
    assert answer.status_code == 200 and answer.json["outcome"] == "dropped"
    assert not [n for n in harness.objects("spacely/") if "victim" in n]
    assert any(
        json.loads(line)["severity"] == "ERROR"
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{")
    )


def test_an_early_webhook_flood_is_refused_with_429(harness: Harness, monkeypatch):
    monkeypatch.setattr("jobcourier.courier.EARLY_WEBHOOKS_CAP", 3)
    for n in range(3):
        answer = harness.client.post("/webhooks/gepetto", json={"id": f"early-{n}"})
        assert answer.json["outcome"] == "recorded"
    refused = harness.client.post("/webhooks/gepetto", json={"id": "early-4"})
    assert refused.status_code == 429


def test_the_callback_secret_never_reaches_a_log_line(harness: Harness, capsys):
    key = base64.b64decode(CALLBACK_SECRET.removeprefix("whsec_"))
    jid = job_id("secret")
    harness.spacely.add_job(jid, pending_checks=0, files=1)
    submit(harness, jid, callback_url="https://example.invalid/hook")
    harness.deliver(harness.take())
    out = capsys.readouterr().out
    assert CALLBACK_SECRET not in out and key.decode() not in out


def test_listing_a_queue_that_is_not_there_is_an_outage_not_a_crash(harness: Harness):
    jid = job_id("lonely")
    harness.spacely.add_job(jid, pending_checks=50)
    assert submit(harness, jid).status_code == 202
    harness.restart(JOBCOURIER_QUEUE_SPACELY=f"{harness.queue}-missing")
    answer = harness.client.get("/jobs", query_string={"state": "pending"})
    assert answer.status_code == 503 and "Cloud Tasks" in answer.json["error"]
