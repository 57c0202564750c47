"""The oracle on distributions small enough to plan by hand."""

from __future__ import annotations

import math

import pytest

from bench import oracle
from bench.workload import Job


def jobs(provider: str, *durations: float, progress: str = "none") -> list[Job]:
    return [Job(provider, d, progress) for d in durations]


def test_with_no_late_job_allowed_the_first_check_waits_for_the_fastest_one_lag_later():
    """SellerPic (checks >= 60 s apart, the first one too) jobs of 30, 90 and 150 s, lag 60 s:
    one check at 90 s sees the first two (lags 60 and 0 s), one at 150 s the third: 4 checks
    for 3 jobs. No single check can see all three within 60 s."""
    got = oracle.bound(jobs("sellerpic", 30, 90, 150), 60.0, share=0.0)
    assert got.checks_per_job == pytest.approx(4 / 3)
    assert got.achievable == pytest.approx(4 / 3)


def test_one_late_job_allowed_buys_one_check_for_all():
    """A third of the jobs may wait longer: one check at 150 s sees all three (the 30 s job
    120 s late)."""
    got = oracle.bound(jobs("sellerpic", 30, 90, 150), 60.0, share=1 / 3)
    assert got.checks_per_job == pytest.approx(1.0)


def test_a_lag_below_the_minimum_interval_can_be_out_of_reach():
    """Jobs of 70 and 100 s, lag 20 s, SellerPic: the job of 70 s needs a check in [70, 90],
    the one of 100 s in [100, 120], and checks are 60 s apart. No schedule does it."""
    got = oracle.bound(jobs("sellerpic", 70, 100), 20.0, share=0.0)
    assert math.isinf(got.checks_per_job)


def test_progress_tells_the_rest():
    """Fliki (15 s apart) jobs of 100, 300 and 500 s, lag 5 s. Blind: checks at 100, 300 and
    500 s, 1 + 2 + 3 = 6. Reading linear progress, the check at 100 s also shows how far the
    other two are, and one more check each, when done: 1 + 2 + 2 = 5."""
    blind = oracle.bound(
        jobs("fliki", 100, 300, 500, progress="linear"), 5.0, share=0.0, reads_progress=False
    )
    reading = oracle.bound(jobs("fliki", 100, 300, 500, progress="linear"), 5.0, share=0.0)
    assert blind.checks_per_job == pytest.approx(6 / 3)
    assert reading.checks_per_job == pytest.approx(5 / 3)


def test_the_budget_pools_providers():
    """The 5 % is of all jobs: one provider's late jobs use what another does not."""
    mixed = jobs("sellerpic", 30, 90, 150) + jobs("spacely", *([50.0] * 17))
    got = oracle.bound(mixed, 60.0, share=0.05)  # 1 of 20 jobs may be late
    assert got.checks_per_job == pytest.approx((3 + 17) / 20)
