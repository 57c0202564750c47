"""GCS goes away mid-run and comes back: the emulator is SIGKILLed while jobs poll and a large
video is being copied, kept down, and restarted on the same port with what it held (its
filesystem backend). Meanwhile the function answers 503 and the queue retries.

The tasks emulator retries a failed task at once, with no backoff and no attempt limit, so a
task that fails fast (the first read of a check, refused) reaches the queue's "last attempt"
(X-CloudTasks-TaskRetryCount 11) within a second or two of outage, where Cloud Tasks' backoff
would take minutes. The function then re-arms the check as a new task, ten (scaled) minutes
later, as it would after a real long outage. The outage here is a few seconds, well inside
every job's deadline, so re-armed jobs still succeed, only later.
"""

from __future__ import annotations

import time

from devstack.stack import Stack
from tests.faults.conftest import (
    assert_settled_cleanly,
    fliki_file,
    fliki_job,
    function_log_lines,
    gepetto_job,
    sellerpic_job,
    spacely_job,
    status_calls,
    submit,
    wait_until,
)

PERSISTENT_GCS = True
OUTAGE_S = 3.0


def test_every_job_survives_gcs_killed_and_restarted_mid_run(stack: Stack):
    video = fliki_job(stack, "slow", pending_checks=1, size=12 * 1024 * 1024 + 5)
    served = fliki_file(stack, video)
    served.chunk_bytes, served.chunk_delay_s = 256 * 1024, 0.05  # about 2.5 s a copy
    jobs = [
        video,
        spacely_job(stack, pending_checks=8, files=2),
        spacely_job(stack, pending_checks=12, files=3),
        spacely_job(stack, pending_checks=1, files=1),
        gepetto_job(stack, pending_checks=3),
        sellerpic_job(stack, ["SUCCESS", "FAILED", "SUCCESS"], pending_checks=2),
        fliki_job(stack, pending_checks=4, size=3 * 1024 * 1024),
    ]
    for job in jobs:
        submit(stack, job)
    wait_until(
        lambda: bool(served.sent) and served.sent[0] >= 2 * 1024 * 1024, 30, "copy under way"
    )
    polling = [j for j in jobs[1:3] if status_calls(stack, j)]
    assert polling, "the Spacely jobs are being checked when GCS goes"
    retries_before = _retries_asked(stack)

    stack.gcs.kill()
    down_at = time.monotonic()
    wait_until(lambda: _retries_asked(stack) > retries_before, 20, "the function saw the outage")
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage's length
    stack.gcs.restart()

    assert_settled_cleanly(stack, jobs)
    assert _retries_asked(stack) > retries_before
    # The upload under way lost its session with the server: the copy failed (503) and the
    # next delivery fetched the video again, whole; no partial object was kept.
    assert len(served.sent) == 2 and served.sent[1] == served.length
    video_lines = [line for line in function_log_lines(stack) if video.job_id in line]
    assert any("GCS upload failed" in line for line in video_lines)


def _retries_asked(stack: Stack) -> int:
    """503 answers the function gave, from its log ("...; asking for a retry")."""
    return sum("asking for a retry" in line for line in function_log_lines(stack))
