"""Gepetto, SellerPic and Fliki through the real app and emulators, webhooks included."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import google_crc32c

from tests.integration.conftest import Harness


def test_gepetto_waits_for_cold_starts_and_a_webhook_prompts_a_check(harness: Harness):
    jid = str(uuid.uuid4())
    data = harness.gepetto.add_job(jid, pending_checks=1)
    before = datetime.now(UTC)
    assert (
        harness.client.post("/jobs", json={"provider": "gepetto", "job_id": jid}).status_code == 202
    )
    [chain] = harness.queued()
    assert chain.schedule_time >= before + timedelta(seconds=44)  # not eager: its 45 s target
    assert harness.deliver(harness.take()).json["outcome"] == "rescheduled"
    [chain] = harness.queued()
    answer = harness.client.post(
        "/webhooks/gepetto", json={"id": jid, "output": "https://evil.test/x.png"}
    )
    assert answer.status_code == 202 and answer.json["outcome"] == "check_scheduled"
    prompt = next(t for t in harness.queued() if t.name != chain.name)
    assert prompt.schedule_time <= datetime.now(UTC)
    harness.tasks.purge_queue(name=harness.queue)
    assert harness.deliver(prompt).json == {"outcome": "settled", "state": "succeeded"}
    assert harness.deliver(chain).json["outcome"] == "stopped"  # settled: not asked again
    manifest = harness.manifest(jid, "gepetto")
    assert manifest["files"][0]["source"].endswith(f"/files/gepetto/{jid}.png")
    assert harness.bucket.blob(f"gepetto/{jid}/00.png").download_as_bytes() == data
    assert harness.queued() == []


def test_webhooks_for_strangers_bad_bodies_and_silent_providers(harness: Harness):
    stranger = str(uuid.uuid4())
    answer = harness.client.post(
        "/webhooks/fliki", json={"success": True, "data": {"id": stranger, "file": "x"}}
    )
    assert answer.status_code == 202 and answer.json["outcome"] == "recorded"
    assert f"_jobcourier/webhooks/fliki/{stranger}.json" in harness.objects()
    assert harness.queued() == []
    bad = harness.client.post("/webhooks/fliki", json={"success": True, "id": stranger})
    assert bad.status_code == 400 and "data" in bad.json["error"]
    escaping = harness.client.post("/webhooks/gepetto", json={"id": "../x", "output": "y"})
    assert escaping.status_code == 400
    assert harness.client.post("/webhooks/spacely", json={"id": "x"}).status_code == 404
    assert harness.client.post("/webhooks/nope", json={"id": "x"}).status_code == 400


def test_sellerpic_integer_ids_partial_results_and_an_expired_link(harness: Harness):
    task_id = int(uuid.uuid4().int % 10**15)
    data = harness.sellerpic.add_job(
        str(task_id),
        outcomes=["SUCCESS", "FAILED", "SUCCESS"],
        pending_checks=1,
        expire_first_link=True,
    )
    answer = harness.client.post("/jobs", json={"provider": "sellerpic", "job_id": task_id})
    assert answer.status_code == 202
    before = datetime.now(UTC)
    assert harness.deliver(harness.take()).json["outcome"] == "rescheduled"
    [second] = harness.queued()
    assert second.schedule_time >= before + timedelta(seconds=60)  # SellerPic: >= 60 s apart
    assert harness.deliver(harness.take()).json["state"] == "partial"
    manifest = harness.manifest(str(task_id), "sellerpic")
    assert [f["name"] for f in manifest["files"]] == ["00.png", "02.png"]
    assert "could not fit the garment" in manifest["error"]["message"]
    for entry, expected in zip(manifest["files"], (data[0], data[2]), strict=True):
        assert (
            harness.bucket.blob(f"sellerpic/{task_id}/{entry['name']}").download_as_bytes()
            == expected
        )
        assert "?" not in entry["source"] and "Signature" not in json.dumps(manifest)
    calls = harness.sellerpic.download_calls[-3:]
    assert [c["id"] for c in calls] == [f"{task_id}00", f"{task_id}00", f"{task_id}02"]
    assert {c["downloadFormat"] for c in calls} == {"png"}


def test_sellerpic_concurrency_ceiling_is_retried_a_minute_later(harness: Harness):
    task_id = str(uuid.uuid4().int % 10**15)
    harness.sellerpic.add_job(task_id, outcomes=["SUCCESS"], pending_checks=0, codes=[30003])
    harness.client.post("/jobs", json={"provider": "sellerpic", "job_id": task_id})
    before = datetime.now(UTC)
    assert harness.deliver(harness.take()).json["outcome"] == "rescheduled"
    [task] = harness.queued()
    assert task.schedule_time >= before + timedelta(seconds=60)
    assert harness.deliver(harness.take()).json["state"] == "succeeded"


def test_fliki_streams_a_large_video_and_verifies_it(harness: Harness):
    file_id = str(uuid.uuid4())
    served = harness.fliki.add_job(file_id, pending_checks=2, size=40 * 1024 * 1024 + 123)
    harness.client.post("/jobs", json={"provider": "fliki", "job_id": file_id})
    for _ in range(3):
        answer = harness.deliver(harness.take())
    assert answer.json == {"outcome": "settled", "state": "succeeded"}
    md5, crc = hashlib.md5(), google_crc32c.Checksum()  # noqa: S324
    for chunk in served.chunks():
        md5.update(chunk)
        crc.update(chunk)
    [entry] = harness.manifest(file_id, "fliki")["files"]
    assert entry["name"] == "00.mp4" and entry["content_type"] == "video/mp4"
    assert entry["size"] == served.length
    assert entry["md5"] == base64.b64encode(md5.digest()).decode()
    assert entry["crc32c"] == base64.b64encode(crc.digest()).decode()


def test_fliki_progress_is_carried_and_rate_limits_are_honoured(harness: Harness):
    file_id = str(uuid.uuid4())
    harness.fliki.add_job(
        file_id, pending_checks=3, size=1000, errors=[(429, {"Retry-After": "200"})]
    )
    harness.client.post("/jobs", json={"provider": "fliki", "job_id": file_id})
    before = datetime.now(UTC)
    harness.deliver(harness.take())  # 429
    [task] = harness.queued()
    assert task.schedule_time >= before + timedelta(seconds=200)
    for _ in range(3):
        harness.deliver(harness.take())
    [task] = harness.queued()
    body = json.loads(task.http_request.body)
    assert [f for _, f in body["progress"]] == [0.33, 0.67]
    assert harness.deliver(harness.take()).json["state"] == "succeeded"


def test_fliki_error_and_canceled_end_failed(harness: Harness):
    for word in ("error", "canceled"):
        file_id = str(uuid.uuid4())
        harness.fliki.add_job(file_id, pending_checks=0, final_status=word)
        harness.client.post("/jobs", json={"provider": "fliki", "job_id": file_id})
        assert harness.deliver(harness.take()).json["state"] == "failed"
        assert word in harness.manifest(file_id, "fliki")["error"]["message"]


def test_the_public_webhook_endpoint_needs_its_token_and_serves_nothing_else(
    harness: Harness, monkeypatch
):
    from functions_framework import create_app

    from tests.integration.conftest import MAIN

    jid = str(uuid.uuid4())
    harness.gepetto.add_job(jid, pending_checks=1)
    assert (
        harness.client.post("/jobs", json={"provider": "gepetto", "job_id": jid}).status_code == 202
    )
    monkeypatch.setenv("JOBCOURIER_WEBHOOK_TOKEN", "a-long-shared-secret")
    monkeypatch.setenv("JOBCOURIER_WEBHOOKS_ONLY", "1")
    public = create_app(target="jobcourier", source=str(MAIN)).test_client()
    body = {"id": jid, "output": "https://x/y.png"}
    refused = public.post("/webhooks/gepetto?token=guess", json=body)
    assert refused.status_code == 401 and "a-long-shared-secret" not in refused.get_data(True)
    assert public.post("/jobs", json={"provider": "gepetto", "job_id": "x"}).status_code == 404
    assert public.get(f"/jobs/gepetto/{jid}").status_code == 404
    assert len(harness.queued()) == 1
    accepted = public.post("/webhooks/gepetto?token=a-long-shared-secret", json=body)
    assert accepted.status_code == 202 and accepted.json["outcome"] == "check_scheduled"
    assert len(harness.queued()) == 2
