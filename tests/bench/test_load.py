"""The load benchmark runs the whole local loop and prints what it promises. A small run only:
the full one (python -m bench.load --jobs 1000) is run by hand, its figures in the README."""

from __future__ import annotations

import json

import pytest

from bench import load

KEYS = {
    "jobs",
    "submitted",
    "settled",
    "lost",
    "states",
    "unexpected_states",
    "settled_events",
    "duplicated_objects",
    "stored_files",
    "file_gets",
    "refetched_files",
    "checks_per_job",
    "status_calls_per_job",
    "settle_p50_s",
    "settle_p95_s",
    "submit_time_s",
    "wall_time_s",
    "peak_rss_mib",
}


def test_a_small_load_run_settles_every_job_once_and_duplicates_nothing(
    capsys: pytest.CaptureFixture[str],
):
    load.main(["--jobs", "20", "--seed", "7", "--timeout", "120"])
    whole, *providers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert set(whole) >= KEYS
    assert whole["jobs"] == whole["submitted"] == whole["settled"] == whole["settled_events"] == 20
    assert whole["lost"] == 0 and whole["unexpected_states"] == 0
    assert whole["duplicated_objects"] == 0
    assert whole["refetched_files"] == 0 and whole["stored_files"] > 0
    assert sum(whole["states"].values()) == 20
    assert whole["checks_per_job"] >= 1 and whole["wall_time_s"] > 0
    assert whole["peak_rss_mib"] is None or whole["peak_rss_mib"] > 10
    assert [p["provider"] for p in providers] == list(load.PROVIDERS)
    assert sum(p["jobs"] for p in providers) == 20
