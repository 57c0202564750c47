"""The operating and steering surface with in-memory fakes: cancel, replay, the list of jobs in
flight, the sweep, callbacks, early webhooks, re-arming on the queue's last attempt, and the
checks made of task bodies."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from devstack.receiver import verify
from jobcourier import callbacks
from jobcourier.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    DownloadTransient,
    InfrastructureError,
    Throttled,
    UnknownJob,
)
from jobcourier.limits import CALLBACK_PATIENCE, EARLY_WEBHOOKS_CAP, LOST_CHAIN_GRACE
from jobcourier.model import CallbackTask, JobKey, JobState, Manifest
from jobcourier.validation import Submission, parse_callback_task, parse_task
from tests.fakes import CALLBACK_KEY, Clock, ScriptedApi, World, json_answer
from tests.unit.test_courier import KEY, PROCESSING, SUCCESS, URLS, manifest, run_chain, world

FAILED = json_answer({"data": {"status": "failed", "result": []}})
HOOK = "https://caller.example/hooks/done"


def pending_chain(w: World) -> list[str]:
    return sorted({t.task.chain for t in w.scheduler.tasks if "callback" not in t.body_json})


# -- cancel ------------------------------------------------------------------------------------
def test_cancel_settles_the_job_and_its_chain_stops_without_asking_the_provider(caplog):
    caplog.set_level(logging.INFO)
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    answer = courier.steering.cancel(KEY, "wrong prompt")
    assert answer.http_status == 200 and answer.body["state"] == "canceled"
    m = manifest(w)
    assert m["state"] == "canceled" and m["error"] == {
        "code": "canceled",
        "message": "wrong prompt",
    }
    assert w.store.read_pending(KEY) is None
    assert m["checks"] == 0  # none made yet
    assert courier.poll(w.scheduler.pop().task).body == {"outcome": "stopped"}
    assert w.api.calls == []  # the provider was never asked
    again = courier.steering.cancel(KEY, None)
    assert again.http_status == 200 and again.body["manifest"] == answer.body["manifest"]
    events = [r.__dict__.get("jobcourier_event") for r in caplog.records]
    assert events.count("job_canceled") == 1 and events.count("job_settled") == 1


def test_cancel_of_a_job_settled_otherwise_is_a_conflict_and_changes_nothing():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    run_chain(w)
    before = dict(w.store.objects)
    with pytest.raises(Conflict) as refused:
        courier.steering.cancel(KEY, "too late")
    assert refused.value.details["state"] == "succeeded"
    assert refused.value.details["manifest"] == manifest(w)
    assert w.store.objects == before


def test_a_canceled_manifest_counts_the_checks_its_chain_made():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    run_chain(w, limit=3)
    assert courier.steering.cancel(KEY, None).body["manifest"]["checks"] == 3
    other = JobKey("spacely", "queues-down")
    courier.submit(Submission(other))
    w.scheduler.unavailable = True
    assert courier.steering.cancel(other, None).body["manifest"]["checks"] == 0


def test_cancel_of_an_unknown_job_is_404():
    with pytest.raises(UnknownJob):
        world(PROCESSING).courier().steering.cancel(KEY, None)


def test_a_cancel_racing_a_delivery_ends_in_one_manifest_and_says_which_won():
    """The delivery copies; the cancel lands before its manifest: the cancel wins, the
    delivery's invocation keeps the canceled manifest, and nobody writes a second one."""
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task
    opened = w.downloader.open
    answers: list[Any] = []

    def cancel_meanwhile(url, deadline=None):
        if not answers:
            answers.append(courier.steering.cancel(KEY, "changed my mind"))
        return opened(url, deadline)

    w.downloader.open = cancel_meanwhile  # type: ignore[method-assign]
    delivered = courier.poll(task)
    assert answers[0].body["state"] == "canceled"
    assert delivered.body == {"outcome": "settled", "state": "canceled"}
    assert manifest(w)["state"] == "canceled"
    assert sum(n.endswith("manifest.json") for n in w.store.writes) == 1


def test_a_delivery_that_wins_the_race_makes_the_cancel_a_conflict():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    run_chain(w)
    with pytest.raises(Conflict, match="succeeded"):
        courier.steering.cancel(KEY, None)


# -- replay ------------------------------------------------------------------------------------
def test_replay_keeps_the_old_manifest_and_runs_a_new_chain_with_names_of_its_own():
    w = world(FAILED)
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=900))
    first = w.scheduler.tasks[0]
    run_chain(w)
    failed = manifest(w)
    assert failed["state"] == "failed"
    w.api.script[:] = [PROCESSING, SUCCESS]
    answer = courier.submit(Submission(KEY, replay=True))
    assert answer.http_status == 202 and answer.body["replayed"] is True
    assert f"{KEY.folder}/manifest.json" not in w.store.objects  # gone before the new chain
    [archived] = [n for n in w.store.objects if n.startswith("_jobcourier/history/")]
    assert json.loads(w.store.objects[archived]) == failed
    [new] = w.scheduler.tasks
    assert new.task_id != first.task_id and new.task.chain != first.task.chain
    assert new.task.deadline_at - w.clock.now == timedelta(seconds=900)  # the original's
    run_chain(w)
    assert manifest(w)["state"] == "succeeded"


def test_a_stale_chain_stops_after_a_replay():
    """Canceled while its next check waited in the queue, then replayed: that old check finds
    another chain in charge and stops; only the new chain asks the provider."""
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    stale = w.scheduler.pop()
    courier.steering.cancel(KEY, None)
    courier.submit(Submission(KEY, replay=True))
    assert courier.poll(stale.task).body == {"outcome": "stopped"}
    assert w.api.calls == []
    assert courier.poll(w.scheduler.pop().task).body["outcome"] == "rescheduled"


def test_replay_reuses_stored_files_that_match_and_fetches_the_rest():
    w = world(SUCCESS)
    w.downloader.served[URLS[1]] = DownloadTransient("HTTP 503, for as long as it takes")
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=60))
    run_chain(w, limit=500)
    assert manifest(w)["state"] == "partial"
    stray = replace(w.store.files[f"{KEY.folder}/00.png"], name="99.png")
    w.store._put(f"{KEY.folder}/99.png", b"not in the manifest")  # a stray object
    w.store.files[f"{KEY.folder}/99.png"] = stray
    w.downloader.served[URLS[1]] = ("image/png", b"two!")
    w.downloader.opened.clear()
    courier.submit(Submission(KEY, replay=True))
    assert f"{KEY.folder}/99.png" not in w.store.objects
    run_chain(w)
    assert w.downloader.opened == [URLS[1]]  # 00.png was kept, not fetched again
    assert [f["name"] for f in manifest(w)["files"]] == ["00.png", "01.png"]


def test_replay_of_a_succeeded_job_is_a_conflict_and_of_a_running_one_a_duplicate():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    run_chain(w)
    with pytest.raises(Conflict, match="nothing to replay"):
        courier.submit(Submission(KEY, replay=True))
    other = JobKey("spacely", "still-running")
    w.api.script[:] = [PROCESSING]
    courier.submit(Submission(other))
    again = courier.submit(Submission(other, replay=True))
    assert again.http_status == 202 and again.body["duplicate"] is True
    assert len(w.scheduler.tasks) == 1


def test_replay_of_an_unknown_job_is_an_ordinary_submission():
    w = world(PROCESSING)
    answer = w.courier().submit(Submission(KEY, replay=True))
    assert answer.http_status == 202 and "replayed" not in answer.body
    assert len(w.scheduler.tasks) == 1


def test_concurrent_replays_start_one_chain():
    """Two replays of the same manifest on two instances: both read it, one creates the
    pending entry; the other sees that entry replaces the same manifest and answers as a
    duplicate, creating at most the same first task (its name absorbs it)."""
    w = world(FAILED)
    w.courier().submit(Submission(KEY))
    run_chain(w)
    one, two = w.courier(), w.courier()
    read = w.store.read_manifest(KEY)
    assert read is not None
    first = one._replay(Submission(KEY, replay=True), one.providers["spacely"], read)
    second = two._replay(Submission(KEY, replay=True), two.providers["spacely"], read)
    assert first.body.get("duplicate") is None and second.body["duplicate"] is True
    assert len(pending_chain(w)) == 1 and len(w.scheduler.tasks) == 1


# -- GET /jobs?state=pending -------------------------------------------------------------------
def test_the_list_joins_pending_entries_with_what_the_queue_holds():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY))
    run_chain(w, limit=2)  # two checks made; the third waits in the queue
    listed = courier.steering.pending(None, None, None)
    [entry] = listed.body["jobs"]
    assert entry["provider"] == "spacely" and entry["job_id"] == KEY.job_id
    assert entry["state"] == "pending" and entry["checks"] == 2
    assert entry["last_status"] == "processing"
    assert entry["next_check_at"] == w.scheduler.tasks[0].at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entry["submitted_at"].endswith("Z") and "." not in entry["submitted_at"]
    assert listed.body["next_page_token"] is None


def test_the_list_pages_by_a_token_it_handed_out_and_filters_by_provider():
    w = world(PROCESSING)
    courier = w.courier()
    for n in range(5):
        courier.submit(Submission(JobKey("spacely", f"job-{n}")))
    courier.submit(Submission(JobKey("fliki", "video-1")))
    seen, token = [], None
    while True:
        page = courier.steering.pending("spacely", 2, token).body
        seen += [j["job_id"] for j in page["jobs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [f"job-{n}" for n in range(5)]
    everything = courier.steering.pending(None, 1000, None).body["jobs"]
    assert {j["provider"] for j in everything} == {"spacely", "fliki"}
    with pytest.raises(BadRequest, match="page_token"):
        courier.steering.pending("spacely", 2, "not-a-token")
    with pytest.raises(BadRequest, match="page_token"):
        first = courier.steering.pending("spacely", 2, None).body["next_page_token"]
        courier.steering.pending("fliki", 2, first)  # a token for another listing


# -- POST /sweep -------------------------------------------------------------------------------
def test_the_sweep_settles_lost_chains_and_leaves_jobs_in_flight_alone(caplog):
    caplog.set_level(logging.INFO)
    w = world(PROCESSING)
    courier = w.courier()
    lost = JobKey("spacely", "lost-one")
    courier.submit(Submission(lost, deadline_seconds=60))
    courier.submit(Submission(KEY, deadline_seconds=30 * 24 * 3600))
    w.scheduler.tasks.clear()  # the queue dropped both chains' tasks
    w.clock.advance(60 + LOST_CHAIN_GRACE.total_seconds() + 1)
    assert courier.steering.sweep().body == {"scanned": 2, "settled": 1}
    lost_manifest = manifest(w, lost)
    assert lost_manifest["state"] == "timed_out" and lost_manifest["error"]["code"] == "chain_lost"
    assert f"{KEY.folder}/manifest.json" not in w.store.objects
    assert courier.steering.sweep().body == {"scanned": 1, "settled": 0}  # nothing settled twice
    events = [r.__dict__.get("jobcourier_event") for r in caplog.records]
    assert events.count("job_settled") == 1


def test_the_sweep_finishes_a_settle_that_a_crash_cut_short():
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=60, callback_url=HOOK))
    record = w.store.read_pending(KEY)
    assert record is not None
    run_chain(w)
    w.store.objects[f"_jobcourier/pending/{KEY.folder}.json"] = json.dumps(
        record.to_json()
    ).encode()  # as if the instance died between the manifest and the entry's removal
    w.scheduler.tasks.clear()
    w.scheduler.names.clear()
    w.clock.advance(60 + LOST_CHAIN_GRACE.total_seconds() + 1)
    assert courier.steering.sweep().body == {"scanned": 0, "settled": 0}
    assert w.store.read_pending(KEY) is None
    [callback] = w.scheduler.tasks  # the callback it may never have sent
    assert callback.body_json["kind"] == "callback"


# -- callbacks ---------------------------------------------------------------------------------
def test_the_standard_webhooks_test_vector():
    """From the Standard Webhooks specification's reference implementations."""
    key = callbacks.parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", source="test")
    body = b'{"test": 2432232314}'
    got = callbacks.sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("value", "message"),
    [("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with"), ("whsec_!!", "base64"),
     ("whsec_" + base64.b64encode(b"short").decode(), "at least 24 bytes")],
)  # fmt: skip
def test_a_malformed_callback_secret_is_a_configuration_error(value, message):
    with pytest.raises(ConfigurationError, match=message):
        callbacks.parse_secret(value, source="JOBCOURIER_CALLBACK_SECRET")


def callback_world(*answers: int | Exception) -> World:
    w = world(SUCCESS)
    w.sender.answers = list(answers)
    return w


def deliver_callbacks(w: World, limit: int = 100) -> list[str]:
    courier, outcomes = w.courier(), []
    for _ in range(limit):
        due = [t for t in w.scheduler.tasks if t.body_json.get("kind") == "callback"]
        if not due:
            break
        w.scheduler.tasks.remove(due[0])
        w.clock.now = max(w.clock.now, due[0].at)
        task = parse_callback_task(due[0].body_json, courier.providers)
        outcomes.append(courier.callbacks.deliver(task).body["outcome"])
    return outcomes


def test_a_callback_answered_500_twice_is_delivered_on_the_third_try_signed_alike():
    w = callback_world(500, 500, 204)
    w.courier().submit(Submission(KEY, callback_url=HOOK))
    run_chain(w)
    assert deliver_callbacks(w) == ["retrying", "retrying", "delivered"]
    assert [url for url, _, _ in w.sender.sent] == [HOOK] * 3
    ids = {headers["webhook-id"] for _, _, headers in w.sender.sent}
    assert len(ids) == 1
    secret = "whsec_" + base64.b64encode(CALLBACK_KEY).decode()
    for _, body, headers in w.sender.sent:
        assert verify(secret, headers, body, now=int(headers["webhook-timestamp"]))
        assert json.loads(body) == {"type": "job.settled", "data": manifest(w)}
    gaps = [t for t in w.scheduler.names if "callback" in t]
    assert len(gaps) == 3


def test_a_callback_that_never_succeeds_is_given_up_after_a_day_and_changes_nothing(caplog):
    w = callback_world(DownloadTransient("connection refused"))
    w.courier().submit(Submission(KEY, callback_url=HOOK))
    run_chain(w)
    before, first_at = manifest(w), w.clock.now
    outcomes = deliver_callbacks(w)
    assert outcomes[-1] == "failed" and set(outcomes[:-1]) == {"retrying"}
    waited = w.clock.now - first_at
    assert CALLBACK_PATIENCE - timedelta(hours=1) <= waited <= CALLBACK_PATIENCE
    assert manifest(w) == before
    final = [r for r in caplog.records if r.__dict__.get("jobcourier_event") == "callback_failed"]
    assert final[-1].levelname == "ERROR" and final[-1].jobcourier_fields["final"] is True
    assert all(r.levelname == "WARNING" for r in final[:-1])


def test_a_callback_for_a_replaced_manifest_is_superseded():
    w = callback_world(500)
    w.api.script[:] = [FAILED]
    w.courier().submit(Submission(KEY, callback_url=HOOK))
    run_chain(w)
    w.courier().submit(Submission(KEY, replay=True))
    assert deliver_callbacks(w, limit=1) == ["superseded"]


def test_callback_urls_need_a_secret_and_pass_the_senders_check():
    w = world(PROCESSING)
    with pytest.raises(BadRequest):
        w.courier().submit(Submission(KEY, callback_url="https://169.254.169.254/x"))
    w.callback_secret = None
    with pytest.raises(ConfigurationError, match="JOBCOURIER_CALLBACK_SECRET"):
        w.courier().submit(Submission(KEY, callback_url=HOOK))
    assert w.scheduler.tasks == []


# -- early webhooks ----------------------------------------------------------------------------
def test_early_webhooks_are_bounded_per_provider_and_expire():
    w = World(api=ScriptedApi([json_answer({"status": "pending"})]))
    courier = w.courier()
    for n in range(EARLY_WEBHOOKS_CAP):
        assert courier.webhook("gepetto", {"id": f"early-{n}"}).body["outcome"] == "recorded"
    with pytest.raises(Throttled):
        courier.webhook("gepetto", {"id": "one-too-many"})
    assert courier.webhook("fliki", {"data": {"id": "other-provider"}}).http_status == 202
    w.clock.advance(2 * 3600)  # the old ones expire
    assert courier.webhook("gepetto", {"id": "one-too-many"}).body["outcome"] == "recorded"
    assert sum(n.startswith("_jobcourier/webhooks/gepetto/") for n in w.store.objects) == 1


def test_an_early_webhook_is_used_once():
    w = World(api=ScriptedApi([json_answer({"status": "pending"})]))
    courier = w.courier()
    courier.webhook("gepetto", {"id": "g-7"})
    courier.submit(Submission(JobKey("gepetto", "g-7")))
    assert w.scheduler.tasks[0].at == w.clock.now
    assert not any(n.startswith("_jobcourier/webhooks/") for n in w.store.objects)


# -- the queue's last attempt ------------------------------------------------------------------
def test_an_outage_on_the_last_attempt_rearms_the_check_while_the_deadline_allows():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=3 * 3600))
    task = w.scheduler.pop().task
    w.store.unavailable = True  # GCS down: the check cannot even read its pending entry
    with pytest.raises(InfrastructureError):
        courier.poll(task)
    answer = courier.poll(task, retry_count=11)
    assert answer.body["outcome"] == "rearmed"
    [again] = w.scheduler.tasks
    assert again.task_id != task.task_id and again.at - w.clock.now == timedelta(minutes=10)
    w.store.unavailable = False
    w.api.script[:] = [SUCCESS]
    run_chain(w)
    assert manifest(w)["state"] == "succeeded"  # nothing was lost to the outage


def test_an_outage_past_the_deadline_settles_failed_on_the_last_attempt():
    w = world(PROCESSING)
    courier = w.courier()
    courier.submit(Submission(KEY, deadline_seconds=300))
    task = w.scheduler.pop().task
    w.scheduler.unavailable = True
    answer = courier.poll(task, retry_count=11)
    assert answer.body == {"outcome": "settled", "state": "failed"}
    assert manifest(w)["error"]["code"] == "infrastructure_unavailable"


# -- task bodies -------------------------------------------------------------------------------
def submitted_task_body(w: World) -> dict[str, Any]:
    w.courier().submit(Submission(KEY))
    return w.scheduler.pop().body_json


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"job_id": "victim-2/sub"}, "job_id must not contain"),
        ({"job_id": ""}, "job_id must not be empty"),
        ({"job_id": "../x"}, "job_id must not contain"),
        ({"provider": "midjourney"}, "provider must be one of"),
        ({"checks": -1}, "checks must be a whole number"),
        ({"seq": 10**30}, "seq must be a whole number"),
        ({"last_check_s": float("inf")}, "last_check_s must be a number"),
        ({"progress": [[1.0, 2.0]]}, "progress sample"),
        ({"progress": [[1.0, 0.5]] * 9}, "at most 8 samples"),
        ({"labels": {"k": {"nested": 1}}}, "label 'k' must be a string"),
        ({"submitted_at": "yesterday"}, "submitted_at must be an RFC 3339 time"),
        ({"chain": "../../x"}, "chain must be"),
        ({"kind": "callback-ish"}, "kind must be one of"),
        ({"last_status": "x" * 400}, "last_status must be a string of at most"),
        ({"extra": 1}, "unknown fields"),
        ({"done": "yes"}, "done must be true or false"),
        ({"recent": [[2.0, 1.0]]}, "lo <= hi"),
        ({"recent": [[0.0, float("nan")]]}, "a recent duration's hi"),
        ({"recent": [[0.0, 1.0]] * 33}, "at most 32 durations"),
    ],
)
def test_a_poll_task_is_checked_like_a_submission(change, message):
    body = {**submitted_task_body(world(PROCESSING)), **change}
    with pytest.raises(BadRequest, match=message):
        parse_task(body, ["spacely", "gepetto", "sellerpic", "fliki"])


def test_carried_durations_rounded_to_nothing_are_still_a_task():
    """A quick job's duration rounds to (0.0, 0.0]: the task carrying it must not be dropped."""
    body = {**submitted_task_body(world(PROCESSING)), "recent": [[0.0, 0.0], [1.5, 2.5]]}
    assert parse_task(body, ["spacely"]).recent == ((0.0, 0.0), (1.5, 2.5))


def test_a_forged_task_for_a_job_that_is_not_in_flight_writes_nothing():
    w = world(SUCCESS)
    body = submitted_task_body(w)
    forged = parse_task({**body, "job_id": "victim-3"}, ["spacely"])
    assert w.courier().poll(forged).body == {"outcome": "stopped"}
    assert w.api.calls == [] and not any(n.startswith("spacely/victim-3") for n in w.store.objects)


def test_a_callback_task_is_checked_too():
    good = CallbackTask(
        key=KEY,
        chain="abcd1234",
        url=HOOK,
        webhook_id=callbacks.webhook_id(KEY, "abcd1234"),
        first_at=Clock().now,
        generation=7,
    ).to_json()
    assert parse_callback_task(good, ["spacely"]).generation == 7
    for change in ({"webhook_id": "evil"}, {"url": "ftp://x"}, {"generation": -1}):
        with pytest.raises(BadRequest):
            parse_callback_task({**good, **change}, ["spacely"])


def test_the_re_armed_task_keeps_its_job_and_chain():
    w = world(PROCESSING)
    w.courier().submit(Submission(KEY))
    task = w.scheduler.pop().task
    rearmed = replace(task, rearms=1)
    assert rearmed.task_id != task.task_id
    assert parse_task(json.loads(rearmed.to_bytes()), ["spacely"]) == rearmed


def test_a_check_that_finds_the_manifest_written_meanwhile_copies_nothing():
    """Another invocation has just created the manifest and not yet removed the job's entry."""
    w = world(SUCCESS)
    courier = w.courier()
    courier.submit(Submission(KEY))
    task = w.scheduler.pop().task
    record = w.store.read_pending(KEY)
    assert record is not None
    done = Manifest(KEY.provider, KEY.job_id, JobState.FAILED, w.clock.now, w.clock.now, 1)
    assert w.store.create_manifest(KEY, done) is not None
    assert courier.poll(task).body == {"outcome": "already_settled", "state": "failed"}
    assert w.downloader.opened == []


def test_a_replay_clears_a_settled_chains_leftover_entry_first():
    w = world(FAILED)
    courier = w.courier()
    courier.submit(Submission(KEY))
    leftover = w.store.objects[f"_jobcourier/pending/{KEY.folder}.json"]
    run_chain(w)
    w.store._put(f"_jobcourier/pending/{KEY.folder}.json", leftover)  # a crash kept it
    w.api.script[:] = [SUCCESS]
    answer = courier.submit(Submission(KEY, replay=True))
    assert answer.http_status == 202 and "duplicate" not in answer.body
    run_chain(w)
    assert manifest(w)["state"] == "succeeded"


def test_a_callback_due_without_a_secret_is_dropped():
    w = callback_world(200)
    w.courier().submit(Submission(KEY, callback_url=HOOK))
    run_chain(w)
    w.callback_secret = None
    assert deliver_callbacks(w) == ["dropped"] and w.sender.sent == []
