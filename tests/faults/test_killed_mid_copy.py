"""The function SIGKILLed in the middle of a copy: a 24 MiB video the fake serves slowly is
being streamed into GCS (10 MiB of it served) when the instance dies; a fresh one starts on
the same port. The queue delivers the task again and the copy starts over:
the abandoned upload never becomes an object, and the job ends succeeded with the whole file.
"""

from __future__ import annotations

from devstack.stack import Stack
from tests.faults.conftest import (
    assert_settled_cleanly,
    fliki_file,
    fliki_job,
    folder_generations,
    gepetto_job,
    sellerpic_job,
    spacely_job,
    submit,
    wait_until,
)

MIB = 1024 * 1024


def test_a_copy_cut_by_a_killed_instance_is_done_again_whole(stack: Stack):
    video = fliki_job(stack, "big", pending_checks=1, size=24 * MIB + 3)
    served = fliki_file(stack, video)
    served.chunk_bytes, served.chunk_delay_s = 256 * 1024, 0.04  # about 4 s a copy
    jobs = [
        video,
        spacely_job(stack, pending_checks=6, files=2),
        spacely_job(stack, pending_checks=10, files=3),
        gepetto_job(stack, pending_checks=2),
        sellerpic_job(stack, ["SUCCESS", "SUCCESS"], pending_checks=1),
        fliki_job(stack, pending_checks=3, size=2 * MIB),
    ]
    for job in jobs:
        submit(stack, job)
    wait_until(lambda: bool(served.sent) and served.sent[0] >= 10 * MIB, 30, "10 MiB copied")

    stack.kill_function()
    assert served.sent[0] < served.length, "the kill landed mid-copy"
    # An upload the dead instance left open is no object: the folder is still empty.
    assert folder_generations(video.folder) == {}
    assert not any(e["event"] == "job_settled" for e in stack.events(video.job_id))
    stack.restart_function()

    assert_settled_cleanly(stack, jobs)
    # Fetched twice: cut by the kill, then whole; a third fetch would mean a second copy.
    assert len(served.sent) == 2
    assert served.sent[0] < served.length and served.sent[1] == served.length
