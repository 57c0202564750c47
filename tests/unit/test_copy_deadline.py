"""A copy's download is given the invocation's copy cut-off as its deadline, to be kept
inside each read (edges/http.py), not only between chunks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from jobcourier.delivery import deliver
from jobcourier.limits import COPY_CUTOFF
from jobcourier.model import JobKey, Output
from jobcourier.providers import REGISTRY
from tests.fakes import FakeDownloader, FakeStore, ScriptedApi


def test_the_download_deadline_is_what_is_left_of_the_copy_cutoff():
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    ticks = iter(range(100))

    def clock() -> datetime:  # a minute passes at each look at the clock
        return start + timedelta(minutes=next(ticks))

    url = "https://cdn.test/1.png"
    downloader = FakeDownloader(served={url: ("image/png", b"\x89PNG")})
    delivery = deliver(
        key=JobKey("spacely", "j"),
        outputs=[Output(url=url)],
        provider=REGISTRY["spacely"],
        api=ScriptedApi([]),
        store=FakeStore(),
        downloader=downloader,
        clock=clock,
    )
    assert len(delivery.stored) == 1
    [deadline] = downloader.deadlines
    assert deadline is not None
    # Started at minute 0, budget checked at minute 1, the copy opened at minute 2.
    left = (COPY_CUTOFF - timedelta(minutes=2)).total_seconds()
    assert abs(deadline - (time.monotonic() + left)) < 30
