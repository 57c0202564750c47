"""The contract's HTTP surface, driven through the real app against the real emulators."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import google_crc32c
import pytest

from tests.integration.conftest import INVOKER, SELF_URL, Harness


def job_id() -> str:
    return str(uuid.uuid4())


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_submit_creates_a_real_task_and_a_marker(harness: Harness):
    jid = job_id()
    before = datetime.now(UTC)
    answer = harness.client.post(
        "/jobs", json={"provider": "spacely", "job_id": jid, "labels": {"order": "A-17"}}
    )
    assert answer.status_code == 202, answer.json
    assert answer.json["state"] == "pending" and answer.json["manifest"] is None
    [task] = harness.queued()
    assert task.http_request.url == f"{SELF_URL}/poll"
    assert task.http_request.http_method == 1  # POST
    assert task.http_request.oidc_token.service_account_email == INVOKER
    assert task.http_request.oidc_token.audience == SELF_URL
    assert task.dispatch_deadline.total_seconds() == 530
    scheduled = task.schedule_time
    # Spacely's first check, nothing learned yet: its first_check_s, 30 s
    assert before + timedelta(seconds=29) < scheduled < before + timedelta(seconds=32)
    body = json.loads(task.http_request.body)
    assert body["job_id"] == jid and body["labels"] == {"order": "A-17"} and body["seq"] == 0
    assert task.name.startswith(f"{harness.queue}/tasks/")
    assert sorted(harness.objects()) == [
        f"_jobcourier/jobs/spacely/{jid}.json",
        f"_jobcourier/pending/spacely/{jid}.json",
    ]
    assert harness.objects(f"spacely/{jid}/") == {}  # the consumers' folder stays empty


def test_the_same_submission_again_schedules_nothing_more(harness: Harness):
    jid = job_id()
    assert (
        harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid}).status_code == 202
    )
    again = harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    assert again.status_code == 202 and again.json["duplicate"] is True
    assert len(harness.queued()) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "must be a JSON object"),
        (b'{"provider": "dalle", "job_id": "x"}', "provider must be one of"),
        (b'{"provider": "spacely"}', "job_id must be a string"),
        (b'{"provider": "spacely", "job_id": "../../etc"}', "must not contain"),
        (b'{"provider": "spacely", "job_id": "' + b"x" * 300 + b'"}', "at most 256"),
    ],
)
def test_bad_input_is_a_400_that_schedules_and_writes_nothing(harness, body, fragment):
    answer = harness.client.post("/jobs", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert fragment in answer.json["error"]
    assert harness.queued() == [] and harness.objects() == {}


def test_status_of_an_unknown_job_is_404_and_of_a_submitted_one_pending(harness: Harness):
    jid = job_id()
    assert harness.client.get(f"/jobs/spacely/{jid}").status_code == 404
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    answer = harness.client.get(f"/jobs/spacely/{jid}")
    assert answer.status_code == 200 and answer.json["state"] == "pending"
    assert harness.client.get("/jobs/nope/x").status_code == 400


def test_a_processing_check_schedules_the_next_one(harness: Harness):
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=5)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    first = harness.take()
    answer = harness.deliver(first)
    assert answer.status_code == 200 and answer.json["outcome"] == "rescheduled"
    [second] = harness.queued()
    assert second.name != first.name
    assert json.loads(second.http_request.body)["checks"] == 1
    assert harness.objects(f"spacely/{jid}/") == {}


def test_success_streams_the_files_and_writes_the_manifest_last(harness: Harness):
    jid = job_id()
    served = harness.spacely.add_job(jid, pending_checks=1, files=3)
    harness.client.post(
        "/jobs", json={"provider": "spacely", "job_id": jid, "labels": {"order": "A-17"}}
    )
    harness.deliver(harness.take())
    answer = harness.deliver(harness.take())
    assert answer.status_code == 200 and answer.json == {"outcome": "settled", "state": "succeeded"}
    assert harness.queued() == []
    stored = harness.objects(f"spacely/{jid}/")
    assert sorted(stored) == [
        f"spacely/{jid}/{n}" for n in ("00.png", "01.png", "02.png", "manifest.json")
    ]
    manifest = harness.manifest(jid)
    assert manifest["state"] == "succeeded" and manifest["checks"] == 2
    assert manifest["labels"] == {"order": "A-17"} and manifest["error"] is None
    for index, (entry, data) in enumerate(zip(manifest["files"], served, strict=True)):
        blob = stored[f"spacely/{jid}/{index:02d}.png"]
        assert blob.download_as_bytes() == data
        assert entry["size"] == len(data) and entry["content_type"] == "image/png"
        assert entry["md5"] == b64(hashlib.md5(data).digest())  # noqa: S324
        assert entry["crc32c"] == b64(google_crc32c.Checksum(data).digest())
        assert entry["uri"] == f"gs://{harness.bucket.name}/spacely/{jid}/{index:02d}.png"
        assert entry["source"].endswith(f"/files/spacely-enterprise/{jid}/{index + 1}.png")
    last_file = max(stored[f"spacely/{jid}/{n:02d}.png"].updated for n in range(3))
    assert stored[f"spacely/{jid}/manifest.json"].updated >= last_file
    status = harness.client.get(f"/jobs/spacely/{jid}")
    assert status.json["state"] == "succeeded" and status.json["manifest"] == manifest


def test_a_repeated_delivery_leaves_the_same_objects(harness: Harness):
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=0, files=2)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    task = harness.take()
    harness.deliver(task)
    generations = {n: b.generation for n, b in harness.objects(f"spacely/{jid}/").items()}
    gets = len(harness.spacely.file_gets)
    again = harness.deliver(task, **{"X-CloudTasks-TaskRetryCount": "1"})
    assert again.status_code == 200 and again.json["outcome"] == "stopped"  # not in flight
    assert {n: b.generation for n, b in harness.objects(f"spacely/{jid}/").items()} == generations
    assert len(harness.spacely.file_gets) == gets
    resubmit = harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    assert resubmit.status_code == 200 and resubmit.json["manifest"]["state"] == "succeeded"
    assert harness.queued() == []


def test_a_crashed_delivery_resumes_with_the_files_already_stored(harness: Harness):
    jid = job_id()
    served = harness.spacely.add_job(jid, pending_checks=0, files=2)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    task = harness.take()
    # A first delivery that crashed after storing 00.png:
    leftover = harness.bucket.blob(f"spacely/{jid}/00.png")
    leftover.metadata = {"source": "https://example.test/1.png"}
    leftover.upload_from_string(served[0], content_type="image/png")
    generation = harness.bucket.get_blob(f"spacely/{jid}/00.png").generation
    gets_before = list(harness.spacely.file_gets)
    assert harness.deliver(task).json["state"] == "succeeded"
    assert harness.spacely.file_gets[len(gets_before) :] == [f"spacely-enterprise/{jid}/2.png"]
    assert harness.bucket.get_blob(f"spacely/{jid}/00.png").generation == generation
    assert [f["name"] for f in harness.manifest(jid)["files"]] == ["00.png", "01.png"]


def test_a_file_that_fails_for_now_is_retried_later(harness: Harness):
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=0, files=2)
    harness.spacely.files[f"spacely-enterprise/{jid}/2.png"].failures = [503]
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    answer = harness.deliver(harness.take())
    assert answer.json["outcome"] == "delivering"
    assert sorted(harness.objects(f"spacely/{jid}/")) == [f"spacely/{jid}/00.png"]
    again = harness.deliver(harness.take()).json
    assert again.get("state") == "succeeded", again


def test_a_missing_file_ends_the_job_partial(harness: Harness):
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=0, files=2)
    harness.spacely.files[f"spacely-enterprise/{jid}/1.png"].failures = [404]
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    assert harness.deliver(harness.take()).json["state"] == "partial"
    manifest = harness.manifest(jid)
    assert [f["name"] for f in manifest["files"]] == ["01.png"]
    assert manifest["error"]["code"] == "some_outputs_failed"
    assert "HTTP 404" in manifest["error"]["message"]


@pytest.mark.parametrize(
    ("final_status", "state", "code"),
    [("failed", "failed", "provider_failed"), ("error", "failed", "provider_failed")],
)
def test_a_failed_job_ends_with_a_manifest(harness, final_status, state, code):
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=0, final_status=final_status)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    assert harness.deliver(harness.take()).status_code == 200
    manifest = harness.manifest(jid)
    assert manifest["state"] == state and manifest["error"]["code"] == code
    assert harness.queued() == []


def test_a_job_spacely_does_not_know_fails_as_not_found(harness: Harness):
    jid = job_id()  # never added to the fake: it answers 400, as documented
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    assert harness.deliver(harness.take()).status_code == 200
    assert harness.manifest(jid)["error"]["code"] == "not_found"


def test_a_transient_spacely_error_is_rescheduled_after_retry_after(harness: Harness):
    jid = job_id()
    harness.spacely.add_job(jid, errors=[(503, {"Retry-After": "90"})])
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    before = datetime.now(UTC)
    assert harness.deliver(harness.take()).json["outcome"] == "rescheduled"
    [task] = harness.queued()
    assert task.schedule_time >= before + timedelta(seconds=90)


def test_an_unreadable_task_is_dropped_with_a_2xx_not_retried_forever(harness: Harness):
    answer = harness.client.post("/poll", data=b'{"hello": 1}', content_type="application/json")
    assert answer.status_code == 200 and answer.json["outcome"] == "dropped"


def test_an_unreachable_queue_asks_cloud_tasks_to_retry(harness, monkeypatch):
    from functions_framework import create_app

    from tests.integration.conftest import MAIN

    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=3)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    task = harness.take()
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens there
    client = create_app(target="jobcourier", source=str(MAIN)).test_client()
    answer = client.post("/poll", data=task.http_request.body, content_type="application/json")
    assert answer.status_code == 503 and "Cloud Tasks" in answer.json["error"]
    submit = client.post("/jobs", json={"provider": "spacely", "job_id": job_id()})
    assert submit.status_code == 503


def test_an_unreachable_bucket_asks_for_a_retry_and_leaks_nothing(harness, monkeypatch):
    from functions_framework import create_app

    from tests.integration.conftest import MAIN

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    client = create_app(target="jobcourier", source=str(MAIN)).test_client()
    answer = client.post("/jobs", json={"provider": "spacely", "job_id": job_id()})
    assert answer.status_code == 503 and answer.json["error"].startswith("GCS read failed")


def test_missing_configuration_is_a_500_that_names_the_variable(harness, monkeypatch):
    from functions_framework import create_app

    from tests.integration.conftest import MAIN

    monkeypatch.delenv("JOBCOURIER_BUCKET")
    client = create_app(target="jobcourier", source=str(MAIN)).test_client()
    answer = client.post("/jobs", json={"provider": "spacely", "job_id": job_id()})
    assert answer.status_code == 500 and "JOBCOURIER_BUCKET" in answer.json["error"]


def test_no_answer_or_log_line_carries_the_key_or_a_signed_query(harness, capsys):
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=0, files=1)
    name = f"spacely-enterprise/{jid}/1.png"
    job = harness.spacely.jobs[jid]
    job.urls = [job.urls[0] + "?X-Goog-Signature=deadbeefsecret&X-Goog-Credential=cred"]
    harness.spacely.files[name].failures = [503]
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    answers = [harness.deliver(harness.take()), harness.deliver(harness.take())]
    manifest = harness.manifest(jid)
    seen = json.dumps(manifest) + "".join(a.get_data(as_text=True) for a in answers)
    seen += capsys.readouterr().out
    assert "delivery incomplete" in seen  # the log did mention the failing URL...
    assert "deadbeefsecret" not in seen and "cred" not in seen  # ...without its query
    assert harness.spacely.api_key not in seen
    assert manifest["files"][0]["source"].endswith("/1.png")


def test_the_queues_last_attempt_settles_an_outage_instead_of_dropping_the_job(
    harness, monkeypatch
):
    from functions_framework import create_app

    from tests.integration.conftest import MAIN

    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=3)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    task = harness.take()
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:9")
    client = create_app(target="jobcourier", source=str(MAIN)).test_client()
    body = task.http_request.body
    early = client.post(
        "/poll",
        data=body,
        content_type="application/json",
        headers={"X-CloudTasks-TaskRetryCount": "3"},
    )
    assert early.status_code == 503
    last = client.post(
        "/poll",
        data=body,
        content_type="application/json",
        headers={"X-CloudTasks-TaskRetryCount": "11"},
    )
    assert last.status_code == 200 and last.json["state"] == "failed"
    assert harness.manifest(jid)["error"]["code"] == "infrastructure_unavailable"


def test_a_poll_delivered_twice_creates_its_next_task_once(harness: Harness):
    """The real client against the emulator, with Cloud Tasks' name rule (added by our
    launcher): the second create answers ALREADY_EXISTS, which counts as done."""
    jid = job_id()
    harness.spacely.add_job(jid, pending_checks=5)
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    task = harness.take()
    assert harness.deliver(task).json["outcome"] == "rescheduled"
    again = harness.deliver(task, **{"X-CloudTasks-TaskRetryCount": "1"})
    assert again.status_code == 200 and again.json["outcome"] == "duplicate"
    assert len(harness.queued()) == 1
