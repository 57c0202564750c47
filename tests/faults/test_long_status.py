"""A provider that answers with a status word nobody modelled, 40,000 characters long, or a
whole answer of about 1 MiB (and one just over the 1 MiB the function reads of a status
answer). Each such job is checked until its deadline and ends `timed_out`
(`deadline_passed`); meanwhile ordinary jobs of the same providers, submitted after, settle
(no instance is held up); and no log line, manifest or task body carries more than a few
hundred characters of the word."""

from __future__ import annotations

import re
from typing import Any

from google.cloud import tasks_v2

from devstack.stack import PROVIDER_QUEUES, Stack
from jobcourier.text import MAX_TEXT as MAX_STATUS_TEXT
from tests.faults.conftest import (
    Job,
    assert_settled_cleanly,
    fliki_job,
    function_log_lines,
    gepetto_job,
    spacely_job,
    status_calls,
    submit,
    wait_until,
)

MIB = 1024 * 1024
# Each hostile word repeats a letter that no job id, URL or field name repeats this often.
LONG_WORDS = {"spacely": "x" * 40_000, "gepetto": "q" * (MIB - 100), "fliki": "z" * (MIB + 10)}
LONGEST_RUN = MAX_STATUS_TEXT  # the most of one word anything may carry


def test_a_long_status_word_times_out_quietly_and_holds_nothing_up(stack: Stack):
    hostile = [
        spacely_job(stack, "long", pending_checks=0, final_status=LONG_WORDS["spacely"]),
        gepetto_job(stack, "huge", pending_checks=0, final_status=LONG_WORDS["gepetto"]),
        fliki_job(stack, "over", pending_checks=0, final_status=LONG_WORDS["fliki"]),
    ]
    for job in hostile:
        job.state, job.error_code = "timed_out", "deadline_passed"
        submit(stack, job, deadline_seconds=600)  # 12 s at scale 0.02
    wait_until(lambda: all(len(status_calls(stack, j)) >= 2 for j in hostile), 20, "checked")

    ordinary = [
        spacely_job(stack, pending_checks=2),
        spacely_job(stack, pending_checks=1, files=1),
        gepetto_job(stack, pending_checks=1),
        fliki_job(stack, pending_checks=1, size=MIB),
    ]
    for job in ordinary:
        submit(stack, job)
    bodies = _task_bodies_while(stack, lambda: any(_pending(stack, j) for j in ordinary))
    assert all(_pending(stack, j) for j in hostile), "the ordinary jobs settled first"

    bodies += _task_bodies_while(stack, lambda: any(_pending(stack, j) for j in hostile))
    assert_settled_cleanly(stack, hostile + ordinary)

    for job in hostile:
        assert job.manifest is not None
        assert len(status_calls(stack, job)) >= 5  # checked on until the deadline
        assert job.manifest["settled_at"] >= _deadline(stack, job)
        assert _longest_run(str(job.manifest)) <= LONGEST_RUN, job.folder
    over = hostile[2].manifest
    assert over is not None and "over 1048576 bytes" in over["error"]["message"]
    assert bodies and max(_longest_run(b) for b in bodies) <= LONGEST_RUN
    lines = function_log_lines(stack)
    assert max(_longest_run(line) for line in lines) <= LONGEST_RUN
    assert max(len(line) for line in lines) < 4096
    listing = stack.job(hostile[0].provider, hostile[0].job_id).text
    assert _longest_run(listing) <= LONGEST_RUN


def _pending(stack: Stack, job: Job) -> bool:
    return bool(stack.job(job.provider, job.job_id).json()["manifest"] is None)


def _deadline(stack: Stack, job: Job) -> str:
    [submitted] = [e for e in stack.events(job.job_id) if e["event"] == "job_submitted"]
    return str(submitted["deadline_at"])


def _longest_run(text: str) -> int:
    """The longest run of one of the hostile words' letters."""
    runs = re.findall(r"x+|q+|z+", text)
    return max((len(r) for r in runs), default=0)


def _task_bodies_while(stack: Stack, condition: Any) -> list[str]:
    """The bodies of the poll tasks waiting in the providers' queues, sampled until
    `condition` is false (each waits there between two checks of its job)."""
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(stack.tasks.host)
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    bodies: list[str] = []
    try:

        def sample() -> bool:
            for queue in PROVIDER_QUEUES.values():
                request = tasks_v2.ListTasksRequest(
                    parent=queue, response_view=tasks_v2.Task.View.FULL
                )
                for task in client.list_tasks(request=request):
                    bodies.append(task.http_request.body.decode())
            return not condition()

        wait_until(sample, 60, "the jobs settled")
    finally:
        channel.close()
    return bodies
