"""The decision logic with in-memory fakes: submit, check, reschedule, deliver, settle."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobcourier.errors import (
    BadRequest,
    DownloadRefused,
    DownloadTransient,
    InfrastructureError,
    ProviderTransient,
    UnknownJob,
)
from jobcourier.model import JobKey, TaskKind
from jobcourier.planner import Planner
from jobcourier.ports import Download
from jobcourier.providers import REGISTRY
from jobcourier.validation import Submission
from tests.fakes import FakeDownloader, ScriptedApi, World, json_answer

KEY = JobKey("spacely", "068e3933-4aeb-4b4d-a473-9f8fa9f2d20a")
PROCESSING = json_answer({"data": {"status": "processing", "result": []}})
URLS = [
    "https://storage.googleapis.com/spacely-enterprise/a/1.png",
    "https://storage.googleapis.com/spacely-enterprise/a/2.png?X-Goog-Signature=secret",
]
SUCCESS = json_answer({"data": {"status": "success", "result": URLS}})


def world(*script) -> World:
    w = World(api=ScriptedApi(list(script)))
    w.downloader.served = {URLS[0]: ("image/png", b"\x89PNG one"), URLS[1]: ("image/png", b"two!")}
    return w


def manifest(w: World, key: JobKey = KEY) -> dict[str, Any]:
    return json.loads(w.store.objects[f"{key.folder}/manifest.json"])


def run_chain(w: World, limit: int = 50) -> int:
    """Deliver scheduled tasks in order, as Cloud Tasks would, until none is left."""
    courier = w.courier()
    delivered = 0
    while delivered < limit:
        polls = [t for t in w.scheduler.tasks if t.body_json.get("kind") != "callback"]
        if not polls:
            break
        item = polls[0]
        w.scheduler.tasks.remove(item)
        w.clock.now = max(w.clock.now, item.at)
        assert courier.poll(item.task).http_status == 200
        delivered += 1
    return delivered


def test_submit_schedules_the_first_check_and_writes_the_marker():
    w = world(PROCESSING)
    answer = w.courier().submit(Submission(KEY, labels={"order": "A-17"}))
    assert answer.http_status == 202
    assert answer.body["state"] == "pending"
    [first] = w.scheduler.tasks
    assert first.task.key == KEY and first.task.seq == 0 and first.task.labels == {"order": "A-17"}
    assert first.at == w.clock.now + timedelta(seconds=30)
    assert first.task.deadline_at == w.clock.now + timedelta(hours=3)
    assert "_jobcourier/jobs/spacely/068e3933-4aeb-4b4d-a473-9f8fa9f2d20a.json" in w.store.objects
    assert w.api.calls == []  # submitting checks nothing yet


def test_the_same_submission_twice_starts_one_chain():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    again = courier.submit(Submission(KEY))
    assert again.http_status == 202 and again.body["duplicate"] is True
    assert len(w.scheduler.tasks) == 1


class Crash(BaseException):
    """The instance dies here: nothing after it runs, no handler sees it."""


def test_a_crash_between_the_pending_entry_and_the_first_task_is_mended_by_a_retry():
    w = world(PROCESSING)
    schedule = w.scheduler.schedule

    def die(*args: object) -> bool:
        raise Crash

    w.scheduler.schedule = die  # type: ignore[method-assign,assignment]
    with pytest.raises(Crash):  # no answer: the caller retries
        w.courier().submit(Submission(KEY))
    pending = w.store.read_pending(KEY)
    assert w.scheduler.tasks == [] and pending is not None
    w.scheduler.schedule = schedule  # type: ignore[method-assign]
    again = w.courier().submit(Submission(KEY))
    assert again.http_status == 202 and again.body["duplicate"] is True
    assert len(w.scheduler.tasks) == 1  # the first task of the pending entry's chain
    assert w.courier().submit(Submission(KEY)).http_status == 202
    assert len(w.scheduler.tasks) == 1  # its name absorbs any later retry
    assert w.scheduler.tasks[0].task.chain == pending.chain


def test_submit_while_cloud_tasks_is_down_schedules_nothing_and_writes_no_marker():
    w = world(PROCESSING)
    w.scheduler.unavailable = True
    with pytest.raises(InfrastructureError):
        w.courier().submit(Submission(KEY))
    assert w.store.objects == {}  # the pending entry was taken back: nothing in flight


def test_processing_reschedules_with_backoff_and_never_opens_the_store():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    opened = w.store_opened
    gaps = []
    for _ in range(6):
        item = w.scheduler.pop()
        w.clock.now = item.at
        answer = courier.poll(item.task)
        assert answer.body["outcome"] == "rescheduled"
        gaps.append((w.scheduler.tasks[0].at - w.clock.now).total_seconds())
    # Spacely's backoff grows from its 30 s first check by x1.5 and is capped at its 45 s
    # target lag at once; jitter (rand 0.5) brings each 5 % forward
    assert gaps == [42.75] * 6
    assert w.store_opened == opened  # the reschedule-only path never touches GCS
    assert w.scheduler.tasks[0].task.checks == 6 and w.scheduler.tasks[0].task.seq == 6


def test_success_streams_every_file_and_writes_the_manifest_last():
    w = world(PROCESSING, PROCESSING, SUCCESS)
    w.courier().submit(Submission(KEY, labels={"order": "A-17"}))
    assert run_chain(w) == 3
    m = manifest(w)
    assert m["state"] == "succeeded" and m["checks"] == 3 and m["error"] is None
    assert m["labels"] == {"order": "A-17"}
    assert [f["name"] for f in m["files"]] == ["00.png", "01.png"]
    assert m["files"][1]["source"] == "https://storage.googleapis.com/spacely-enterprise/a/2.png"
    assert m["files"][0]["size"] == len(b"\x89PNG one")
    assert w.store.writes[-1] == f"{KEY.folder}/manifest.json"
    assert "secret" not in json.dumps(m)


def test_a_duplicate_delivery_of_the_final_check_copies_nothing_again():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task
    courier.poll(task)
    writes = list(w.store.writes)
    again = courier.poll(task)
    assert again.body == {"outcome": "stopped"}  # no longer in flight: the provider is not asked
    assert w.store.writes == writes and len(w.api.calls) == 1
    assert w.scheduler.tasks == []


def test_a_duplicate_delivery_of_a_running_check_does_not_fork_the_chain():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task
    assert courier.poll(task).body["outcome"] == "rescheduled"
    assert courier.poll(task).body["outcome"] == "duplicate"
    assert len(w.scheduler.tasks) == 1


def test_a_crashed_delivery_resumes_without_copying_stored_files_again():
    w = world(SUCCESS)
    w.courier().submit(Submission(KEY))
    task = w.scheduler.pop().task
    w.downloader.served[URLS[1]] = DownloadTransient("connection reset")
    assert w.courier().poll(task).body["outcome"] == "delivering"
    assert f"{KEY.folder}/manifest.json" not in w.store.objects
    w.downloader.served[URLS[1]] = ("image/png", b"two!")
    w.downloader.opened.clear()
    run_chain(w)
    assert w.downloader.opened == [URLS[1]]
    assert manifest(w)["state"] == "succeeded"


def test_a_refused_file_ends_partial_with_the_others_stored():
    w = world(SUCCESS)
    w.downloader.served[URLS[1]] = DownloadRefused("resolves to 10.0.0.1, not a public address")
    w.courier().submit(Submission(KEY))
    run_chain(w)
    m = manifest(w)
    assert m["state"] == "partial"
    assert [f["name"] for f in m["files"]] == ["00.png"]
    assert m["error"]["code"] == "some_outputs_failed" and "10.0.0.1" in m["error"]["message"]


def test_no_file_delivered_by_the_deadline_fails_the_job():
    w = world(SUCCESS)
    for url in URLS:
        w.downloader.served[url] = DownloadTransient("HTTP 503")
    w.courier().submit(Submission(KEY, deadline_seconds=120))
    run_chain(w)
    m = manifest(w)
    assert m["state"] == "failed" and m["error"]["code"] == "no_output_delivered"
    assert m["files"] == []


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (json_answer({"data": {"status": "failed", "message": "NSFW input"}}), "provider_failed"),
        (json_answer({}, status=400), "not_found"),
        (json_answer({"data": {"status": "success", "result": []}}), "provider_failed"),
    ],
)
def test_failures_end_with_a_failed_manifest(answer, code):
    w = world(answer)
    w.courier().submit(Submission(KEY))
    assert run_chain(w) == 1
    m = manifest(w)
    assert m["state"] == "failed" and m["error"]["code"] == code and m["files"] == []


def test_an_unrecognised_status_keeps_checking_until_the_deadline_and_records_it(caplog):
    w = world(json_answer({"data": {"status": "rendering", "result": []}}))
    w.courier().submit(Submission(KEY, deadline_seconds=300))
    checks = run_chain(w)
    m = manifest(w)
    assert m["state"] == "timed_out" and m["checks"] == checks > 5
    assert "'rendering'" in m["error"]["message"]
    assert "unrecognised status 'rendering'" in caplog.text


def test_the_last_check_lands_on_the_deadline():
    w = world(PROCESSING)
    w.courier().submit(Submission(KEY, deadline_seconds=100))
    run_chain(w)
    m = manifest(w)
    assert m["state"] == "timed_out" and m["error"]["code"] == "deadline_passed"
    assert m["settled_at"] == "2026-11-22T10:01:40Z"  # the contract's format


def test_transient_provider_errors_honour_retry_after_and_do_not_fail_the_job():
    w = world(ProviderTransient("HTTP 503", retry_after_s=120), json_answer({}, 500), SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    item = w.scheduler.pop()
    w.clock.now = item.at
    courier.poll(item.task)
    assert w.scheduler.tasks[0].at - w.clock.now == timedelta(seconds=120)
    run_chain(w)
    assert manifest(w)["state"] == "succeeded"


def test_a_rejected_key_is_retried_slowly_until_the_deadline(caplog):
    w = world(json_answer({}, status=401))
    w.courier().submit(Submission(KEY, deadline_seconds=3600))
    checks = run_chain(w)
    assert 5 <= checks <= 8  # every ten minutes, not every few seconds
    assert manifest(w)["state"] == "timed_out"
    assert "refused our API key" in caplog.text


def test_an_unreadable_answer_is_retried_not_taken_for_a_result():
    w = world(json_answer(["not", "an", "object"]), SUCCESS)
    w.courier().submit(Submission(KEY))
    run_chain(w)
    assert manifest(w)["checks"] == 2 and manifest(w)["state"] == "succeeded"


def test_delay_scale_shrinks_every_delay_and_the_deadline():
    w = world(PROCESSING)
    courier = w.courier(planner=Planner(REGISTRY, scale=0.02, rand=lambda: 0.5))
    courier.submit(Submission(KEY, deadline_seconds=1000))
    first = w.scheduler.tasks[0]
    assert first.at - w.clock.now == timedelta(seconds=0.6)
    assert first.task.deadline_at - w.clock.now == timedelta(seconds=20)


def test_status_reports_pending_then_the_manifest_and_404_for_strangers():
    w = world(SUCCESS)
    courier = w.courier()
    with pytest.raises(UnknownJob):
        courier.status(KEY)
    courier.submit(Submission(KEY))
    assert courier.status(KEY).body["state"] == "pending"
    run_chain(w)
    answer = courier.status(KEY)
    assert answer.body["state"] == "succeeded" and answer.body["manifest"]["job_id"] == KEY.job_id


def test_submitting_a_settled_job_answers_200_with_its_manifest():
    w = world(SUCCESS)
    w.courier().submit(Submission(KEY))
    run_chain(w)
    again = w.courier().submit(Submission(KEY))
    assert again.http_status == 200 and again.body["manifest"]["state"] == "succeeded"
    assert w.scheduler.tasks == []


def test_a_lost_chain_is_settled_as_timed_out_when_the_job_is_submitted_again():
    w = world(PROCESSING)
    w.courier().submit(Submission(KEY, deadline_seconds=600))
    w.scheduler.tasks.clear()  # the queue gave up on the task
    w.clock.advance(600 + 61 * 60)
    answer = w.courier().submit(Submission(KEY))
    assert answer.http_status == 200
    assert answer.body["manifest"]["error"]["code"] == "chain_lost"


def test_unknown_provider_in_a_task_is_bad_input():
    w = world(PROCESSING)
    with pytest.raises(BadRequest, match="provider must be one of"):
        w.courier().status(JobKey("nope", "x"))


def test_a_long_delivery_hands_the_rest_to_the_next_invocation_even_past_the_deadline():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=60))
    task = w.scheduler.pop().task
    opened = w.downloader.open

    def slow_open(url, deadline=None):
        w.clock.advance(400)  # a copy that takes most of the budget
        return opened(url, deadline)

    w.downloader.open = slow_open  # type: ignore[method-assign]
    w.clock.advance(50)
    assert courier.poll(task).body["outcome"] == "delivering"
    assert sorted(w.store.files) == [f"{KEY.folder}/00.png"]
    assert w.clock.now > task.deadline_at  # the copy goes on: the job is done at Spacely
    run_chain(w)
    m = manifest(w)
    assert m["state"] == "succeeded" and [f["name"] for f in m["files"]] == ["00.png", "01.png"]


def test_the_final_attempt_of_a_task_settles_an_outage_as_failed():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task
    w.scheduler.unavailable = True
    with pytest.raises(InfrastructureError):
        courier.poll(task)  # an ordinary attempt: Cloud Tasks retries it
    answer = courier.poll(task, retry_count=11)
    assert answer.http_status == 200 and answer.body["state"] == "failed"
    assert manifest(w)["error"]["code"] == "infrastructure_unavailable"


def test_a_job_checked_before_on_another_instance_still_teaches_this_ones_memory():
    w = world(PROCESSING)
    w.courier().submit(Submission(KEY))
    for _ in range(2):  # two checks on "another instance" (a courier without memory)
        item = w.scheduler.pop()
        w.clock.now = item.at
        w.courier().poll(item.task)
    item = w.scheduler.pop()
    assert item.task.last_check_s == 72.75  # the second check ran 30 + 42.75 s after submission
    w.clock.now = item.at
    w.api.script[:] = [SUCCESS]
    planner = Planner(REGISTRY, remember=True)
    w.courier(planner=planner).poll(item.task)
    assert planner.recent("spacely") == ((72.75, 115.5),)


def test_a_bug_on_the_final_attempt_still_ends_the_job_with_a_manifest():
    w = world(PROCESSING)
    w.courier().submit(Submission(KEY))
    task = w.scheduler.pop().task
    w.api.script[:] = [KeyError("X-Goog-Signature=secret")]  # a bug, not a provider answer
    with pytest.raises(KeyError):
        w.courier().poll(task)
    answer = w.courier().poll(task, retry_count=11)
    assert answer.body["state"] == "failed"
    error = manifest(w)["error"]
    assert error["code"] == "internal_error" and "secret" not in error["message"]


def test_a_done_job_copying_past_its_deadline_survives_provider_errors():
    """The job succeeded at Spacely; its copy runs past the deadline; the re-check that
    follows meets a 503. That is no reason to call the job timed out."""
    w = world(SUCCESS, json_answer({}, status=503), SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=60))
    opened = w.downloader.open

    def slow_open(url, deadline=None):
        w.clock.advance(400)
        return opened(url, deadline)

    w.downloader.open = slow_open  # type: ignore[method-assign]
    run_chain(w)
    m = manifest(w)
    assert m["state"] == "succeeded" and [f["name"] for f in m["files"]] == ["00.png", "01.png"]


def test_a_copy_that_never_finishes_ends_with_what_was_stored():
    w = world(SUCCESS)
    w.downloader.served[URLS[1]] = DownloadTransient("HTTP 503")
    w.courier().submit(Submission(KEY, deadline_seconds=60))
    run_chain(w, limit=200)
    m = manifest(w)
    assert m["state"] == "partial" and [f["name"] for f in m["files"]] == ["00.png"]
    assert w.clock.now >= datetime(2026, 11, 22, 10, 31, tzinfo=UTC)  # the copy grace was used


def test_a_failure_on_the_final_attempt_lists_the_files_already_stored():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task
    w.downloader.served[URLS[1]] = DownloadTransient("HTTP 503")
    courier.poll(task)  # stores 00.png, retries 01.png later
    retry = w.scheduler.pop().task
    w.store.unavailable = False
    w.api.script[:] = [RuntimeError("a bug")]
    assert courier.poll(retry, retry_count=11).body["state"] == "failed"
    m = manifest(w)
    assert m["error"]["code"] == "internal_error" and [f["name"] for f in m["files"]] == ["00.png"]


def test_a_prompt_check_failing_on_its_final_attempt_leaves_the_job_to_the_chain():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    webhook_task = replace(w.scheduler.tasks[0].task, kind=TaskKind.PROMPT)
    w.api.script[:] = [RuntimeError("a bug")]
    assert courier.poll(webhook_task, retry_count=11).body == {"outcome": "dropped"}
    assert f"{KEY.folder}/manifest.json" not in w.store.objects
    assert len(w.scheduler.tasks) == 1  # the chain's next check is still there


def test_a_copy_still_running_at_the_cutoff_is_left_for_the_next_invocation():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task

    class Trickle(FakeDownloader):
        @contextmanager
        def open(self, url, deadline=None):
            def chunks():
                for _ in range(10):
                    w.clock.advance(60)  # a server that trickles: a minute a chunk
                    yield b"x"

            yield Download("image/png", None, chunks())

    w.downloader = Trickle()
    assert courier.poll(task).body["outcome"] == "delivering"
    assert w.store.files == {}  # nothing half-stored


def test_more_than_a_hundred_outputs_keep_two_digit_names():
    urls = [f"https://cdn.test/{n}.png" for n in range(102)]
    w = World(api=ScriptedApi([json_answer({"data": {"status": "success", "result": urls}})]))
    w.downloader.served = {u: ("image/png", b"x") for u in urls}
    w.courier().submit(Submission(KEY))
    run_chain(w)
    m = manifest(w)
    assert m["state"] == "partial" and len(m["files"]) == 100
    assert m["files"][-1]["name"] == "99.png" and "more than 100 outputs" in m["error"]["message"]


def test_a_done_job_whose_provider_stays_down_ends_partial_with_what_was_stored():
    w = world(SUCCESS, json_answer({}, status=503))
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=60))
    opened = w.downloader.open

    def slow_open(url, deadline=None):
        w.clock.advance(400)  # the first copy spends the budget; the second waits
        return opened(url, deadline)

    w.downloader.open = slow_open  # type: ignore[method-assign]
    run_chain(w, limit=200)
    m = manifest(w)
    assert m["state"] == "partial" and m["error"]["code"] == "delivery_incomplete"
    assert [f["name"] for f in m["files"]] == ["00.png"]
