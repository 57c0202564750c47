"""Trickled and truncated downloads. A result server hangs up before the Content-Length it
announced (at once, or after trickling for a while), once, twice, or on every request: the
copy notices the short body, stores nothing, and the next check fetches the file again. A file
that comes whole in the end is stored whole; one that never does ends the job as the contract
says: once the copy grace after the deadline is spent, `partial` (`some_outputs_failed`) with
what was stored, else `failed` (`no_output_delivered`), one reason per missing file. Never a
truncated object in a folder.

A trickle that never stops is cut by the copy's cut-off, 8 minutes into an invocation in real
time (limits.COPY_CUTOFF, not scaled: it keeps an invocation inside Cloud Tasks' dispatch
deadline). No test waits 8 minutes, so that case runs below at the level of one delivery:
the function's own downloader and store against the fake and the GCS emulator, with a clock
that makes each chunk of the trickle take 50 seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.cloud import storage

from devstack.fakes.server import ServedFile
from devstack.stack import BUCKET, Stack
from jobcourier.delivery import deliver
from jobcourier.edges.gcs import GcsStore
from jobcourier.edges.http import RequestsProviderApi, SafeDownloader, new_session
from jobcourier.model import JobKey, Output
from jobcourier.providers import REGISTRY
from tests.faults.conftest import (
    assert_settled_cleanly,
    fliki_file,
    fliki_job,
    folder_generations,
    gepetto_file,
    gepetto_job,
    new_id,
    spacely_file,
    spacely_job,
    submit,
)

KIB = 1024
MIB = 1024 * KIB
DELAY_SCALE = 0.01  # the copy grace after a deadline, 30 minutes, is 18 s here


def test_short_bodies_are_fetched_again_and_never_stored(stack: Stack):
    truncated = spacely_job(stack, "cut", pending_checks=1, files=3)
    first, second, third = (spacely_file(stack, truncated, n) for n in range(3))
    first.cuts = [700]  # of 1500 bytes, once
    second.cuts = [10, 1500]  # of 2200 bytes, twice
    trickled = fliki_job(stack, "trickle", pending_checks=1, size=512 * KIB)
    video = fliki_file(stack, trickled)
    video.chunk_bytes, video.chunk_delay_s = 2 * KIB, 0.004  # 2 KiB at a time, about 1 s
    video.cuts = [300 * KIB]  # the trickle stops short once

    never = gepetto_job(stack, "never", pending_checks=0)
    gepetto_file(stack, never).cut_forever = 1000  # of 4096 bytes, on every request
    never.state, never.error_code = "failed", "no_output_delivered"
    half = spacely_job(stack, "half", pending_checks=0, files=2)
    spacely_file(stack, half, 1).cut_forever = 1000  # of 2200 bytes
    half.state, half.error_code = "partial", "some_outputs_failed"

    for job in (truncated, trickled):
        submit(stack, job)
    for job in (never, half):  # 30 s (0.3 s here), then the copy grace
        submit(stack, job, deadline_seconds=30)

    assert_settled_cleanly(stack, [truncated, trickled, never, half], timeout_s=120)
    assert (first.sent, second.sent, third.sent) == ([700, 1500], [10, 1500, 2200], [2900])
    assert video.sent == [300 * KIB, 512 * KIB]
    assert [f["name"] for f in half.manifest["files"]] == ["00.png"]  # type: ignore[index]
    assert len(gepetto_file(stack, never).sent) >= 3  # tried again and again, never stored
    assert all(sent == 1000 for sent in gepetto_file(stack, never).sent)


class _SlowClock:
    """Each reading is 50 s after the one before: a chunk of a trickle takes that long."""

    def __init__(self) -> None:
        self._now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self._now += timedelta(seconds=50)
        return self._now


def test_a_trickle_still_running_at_the_copy_cutoff_leaves_no_object(stack: Stack):
    job_id = new_id("cutoff")
    served = ServedFile("video/mp4", size=64 * MIB, seed=job_id, chunk_bytes=256 * KIB)
    url = stack.fliki.serve_file(f"fliki/{job_id}.mp4", served)
    key = JobKey("fliki", job_id)
    session = new_session()
    try:
        delivery = deliver(
            key=key,
            outputs=(Output(url=url),),
            provider=REGISTRY["fliki"],
            api=RequestsProviderApi(session, stack.fliki.url, {}),
            store=GcsStore(storage.Client(), BUCKET),
            downloader=SafeDownloader(allow_private=True),
            clock=_SlowClock(),
        )
    finally:
        session.close()
    # The ninth 1 MiB chunk (as the downloader reads) comes past the 8 minutes: by then the
    # first 8 MiB upload chunk had gone to GCS, in a resumable upload never finished.
    assert delivery.stored == () and delivery.failed == ()
    assert len(delivery.retry) == 1 and "copy still running" in delivery.retry[0]
    assert 8 * MIB < served.sent[0] < served.length
    assert folder_generations(key.folder) == {}
