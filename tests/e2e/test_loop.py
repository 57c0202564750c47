"""The whole loop as it runs in production, on this machine: the function under
functions-framework, the Cloud Tasks emulator really dispatching poll tasks to it, the GCS
emulator holding the bucket and a fake Spacely serving statuses and files."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import google_crc32c
import pytest
import requests
from google.cloud import storage

from devstack.stack import BUCKET, Stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(delay_scale=0.02) as running:
        yield running


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_jobs_go_from_submission_to_manifest_through_real_dispatches(stack: Stack):
    slow, failing, lost = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("slow", "fail", "odd"))
    served = stack.spacely.add_job(slow, pending_checks=4, files=3)
    stack.spacely.add_job(failing, pending_checks=1, final_status="failed")
    stack.spacely.add_job(lost, pending_checks=0, final_status="rendering")

    assert stack.submit("spacely", slow, labels={"order": "A-17"}).status_code == 202
    assert stack.submit("spacely", failing).status_code == 202
    # 300 s at scale 0.02: six seconds of checks that never see a known status
    assert stack.submit("spacely", lost, deadline_seconds=300).status_code == 202
    duplicate = stack.submit("spacely", slow)
    assert duplicate.status_code == 202 and duplicate.json()["duplicate"] is True
    refused = stack.submit("spacely", "../escape")
    assert refused.status_code == 400 and "must not contain" in refused.json()["error"]

    manifest = stack.wait_settled("spacely", slow)
    assert manifest["state"] == "succeeded" and manifest["labels"] == {"order": "A-17"}
    # one chain despite the duplicate submission: every check is one dispatched task
    status_calls = [
        c
        for c in stack.spacely.status_calls("/api/v1/generate/poll-result")
        if c.args["refId"] == slow
    ]
    assert manifest["checks"] == len(status_calls) == 5
    gaps = [b.at - a.at for a, b in zip(status_calls, status_calls[1:], strict=False)]
    assert min(gaps) >= 5 * 0.02 * 0.9  # Spacely's minimum interval, scaled
    bucket = storage.Client().bucket(BUCKET)
    for index, data in enumerate(served):
        entry = manifest["files"][index]
        blob = bucket.get_blob(f"spacely/{slow}/{index:02d}.png")
        assert blob.download_as_bytes() == data
        assert entry["md5"] == blob.md5_hash == b64(hashlib.md5(data).digest())  # noqa: S324
        assert entry["crc32c"] == blob.crc32c == b64(google_crc32c.Checksum(data).digest())
        assert entry["size"] == len(data)

    failed = stack.wait_settled("spacely", failing)
    assert failed["state"] == "failed" and failed["error"]["code"] == "provider_failed"

    timed_out = stack.wait_settled("spacely", lost)
    assert timed_out["state"] == "timed_out"
    assert "'rendering'" in timed_out["error"]["message"]
    assert "unrecognised status 'rendering'" in stack.function.tail(400)

    again = stack.submit("spacely", slow)
    assert again.status_code == 200 and again.json()["manifest"] == manifest
    assert stack.job("spacely", "never-submitted").status_code == 404
    listing = sorted(b.name for b in bucket.list_blobs(prefix=f"spacely/{slow}/"))
    assert listing == [
        f"spacely/{slow}/{n}" for n in ("00.png", "01.png", "02.png", "manifest.json")
    ]


def test_every_provider_through_the_loop_with_webhooks(stack: Stack):
    import time

    gepetto_id, fliki_id = f"g-{uuid.uuid4().hex[:8]}", f"f-{uuid.uuid4().hex[:8]}"
    sellerpic_id = uuid.uuid4().int % 10**12
    gepetto_png = stack.gepetto.add_job(gepetto_id, pending_checks=1)
    sellerpic_pngs = stack.sellerpic.add_job(
        str(sellerpic_id), outcomes=["SUCCESS", "FAILED"], pending_checks=1, expire_first_link=True
    )
    video = stack.fliki.add_job(fliki_id, pending_checks=3, size=20 * 1024 * 1024 + 7)

    for provider, job in (
        ("gepetto", gepetto_id),
        ("sellerpic", sellerpic_id),
        ("fliki", fliki_id),
    ):
        assert stack.submit(provider, job).status_code == 202
    # Gepetto calls back once the job is done; the callback prompts a check at once.
    deadline = time.monotonic() + 20
    while stack.gepetto.jobs[gepetto_id].checks < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    body = {"id": gepetto_id, "output": "https://evil.test/x.png"}
    assert stack.webhook("gepetto", body, token="a-wrong-guess-of-the-token").status_code == 401
    hook = stack.webhook("gepetto", body)  # to the public webhook function, with its token
    # the chain checks every 0.2 s here, so it may have seen the job done first
    assert hook.status_code == 202
    assert hook.json()["outcome"] in ("check_scheduled", "already_settled")
    assert (
        requests.get(f"{stack.webhooks_url}/jobs/gepetto/{gepetto_id}", timeout=5).status_code
        == 404
    )  # the public function serves webhooks only

    manifest = stack.wait_settled("gepetto", gepetto_id)
    assert manifest["state"] == "succeeded"
    bucket = storage.Client().bucket(BUCKET)
    assert bucket.blob(f"gepetto/{gepetto_id}/00.png").download_as_bytes() == gepetto_png
    assert stack.gepetto.file_gets.count(f"gepetto/{gepetto_id}.png") == 1

    partial = stack.wait_settled("sellerpic", str(sellerpic_id))
    assert partial["state"] == "partial" and [f["name"] for f in partial["files"]] == ["00.png"]
    assert bucket.blob(f"sellerpic/{sellerpic_id}/00.png").download_as_bytes() == sellerpic_pngs[0]
    generate = stack.sellerpic.status_calls("/v1/api/generate")
    times = [c.at for c in generate if c.args["id"] == str(sellerpic_id)]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 60 * 0.02 * 0.99

    movie = stack.wait_settled("fliki", fliki_id)
    [entry] = movie["files"]
    md5 = hashlib.md5()  # noqa: S324
    for chunk in video.chunks():
        md5.update(chunk)
    assert entry["size"] == video.length and entry["md5"] == b64(md5.digest())
    assert entry["name"] == "00.mp4"


def test_a_job_survives_its_instance_being_killed_mid_chain(stack: Stack):
    import time

    job = f"restart-{uuid.uuid4().hex[:8]}"
    served = stack.spacely.add_job(job, pending_checks=8, files=2)
    assert stack.submit("spacely", job).status_code == 202

    def calls() -> list[Any]:
        return [
            c
            for c in stack.spacely.status_calls("/api/v1/generate/poll-result")
            if c.args["refId"] == job
        ]

    deadline = time.monotonic() + 20
    while len(calls()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stack.kill_function()  # the next poll task is waiting in the queue
    time.sleep(0.5)  # dispatches fail meanwhile; the emulator keeps the task and retries it
    stack.restart_function()
    manifest = stack.wait_settled("spacely", job)
    assert manifest["state"] == "succeeded"
    assert [f["size"] for f in manifest["files"]] == [len(b) for b in served]
    # One chain went on where it was: the fake answers success on the 9th call, and the
    # manifest counts 9 checks, or 8 when the killed invocation had made its call before
    # dying mid-flight (its task was delivered again). A second chain would call more often.
    assert len(calls()) == 9
    assert manifest["checks"] in (8, 9)


def test_the_running_function_writes_each_event_once(stack: Stack):
    """Read back from the function process's own log, as Cloud Logging would receive it."""
    job = f"events-{uuid.uuid4().hex[:8]}"
    stack.spacely.add_job(job, pending_checks=2, files=2)
    trace = uuid.uuid4().hex
    answer = requests.post(
        f"{stack.url}/jobs",
        json={"provider": "spacely", "job_id": job},
        headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        timeout=10,
    )
    assert answer.status_code == 202
    manifest = stack.wait_settled("spacely", job)
    names = [e["event"] for e in stack.events(job)]
    assert names == ["job_submitted", "job_checked", "job_checked", "job_checked", "job_settled"]
    submitted, *checked, settled = stack.events(job)
    assert submitted["logging.googleapis.com/trace"] == f"projects/local-project/traces/{trace}"
    assert [c["outcome"] for c in checked] == ["rescheduled", "rescheduled", "settled"]
    assert settled["state"] == "succeeded" and settled["files"] == 2
    assert settled["checks"] == manifest["checks"] == 3
    assert settled["bytes"] == sum(f["size"] for f in manifest["files"])
    for event in stack.events(job):
        assert event["provider"] == "spacely" and event["job_id"] == job
        assert event["logging.googleapis.com/labels"] == {"provider": "spacely", "job_id": job}
