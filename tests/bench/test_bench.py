"""The benchmark runs, prints what it promises, and the policy meets its goal: on the reference
workload and on two generated ones (seeds fixed before the policy was tuned on them)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from bench import schedule as bench
from bench import workload

REFERENCE = Path(__file__).resolve().parents[2] / "bench" / "workloads" / "reference.jsonl"
KEYS = {"policy", "checks_per_job", "lag_p50_s", "lag_p95_s", "lag_max_s", "pacing_violations"}


def run_cli(path: Path) -> dict[str, dict[str, Any]]:
    out = io.StringIO()
    with redirect_stdout(out):
        bench.main(["--workload", str(path)])
    lines = out.getvalue().splitlines()
    policies = bench.policies({}, instances=4, seed=0)
    tail = [json.loads(line) for line in lines[-len(policies) :]]
    assert [row["policy"] for row in tail] == [p.name for p in policies]
    for row in tail:
        assert set(row) == KEYS
        assert isinstance(row["pacing_violations"], int)
        assert row["checks_per_job"] >= 1
        assert 0 <= row["lag_p50_s"] <= row["lag_p95_s"] <= row["lag_max_s"]
    return {row["policy"]: row for row in tail}


def workloads(tmp_path: Path) -> dict[str, Path]:
    paths = {"reference": REFERENCE}
    for seed in (1, 2):
        path = tmp_path / f"seed{seed}.jsonl"
        path.write_text(
            "".join(json.dumps(j.to_json()) + "\n" for j in workload.generate(seed, 400))
        )
        paths[f"seed {seed}"] = path
    return paths


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict[str, dict[str, Any]]]:
    return {name: run_cli(path) for name, path in workloads(tmp_path_factory.mktemp("w")).items()}


NAMES = ("reference", "seed 1", "seed 2")


@pytest.mark.parametrize("name", NAMES)
def test_the_policy_never_breaks_a_minimum_interval_and_the_baselines_do(results, name):
    rows = results[name]
    assert rows["jobcourier"]["pacing_violations"] == 0
    assert rows["jobcourier-4-instances"]["pacing_violations"] == 0
    assert rows["fixed-10s"]["pacing_violations"] > 0  # SellerPic's 60 s
    assert rows["exp-1s-x1.25-cap60s"]["pacing_violations"] > 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "baseline", ["fixed-10s", "fixed-60s", "exp-1s-x1.25-cap60s", "exp-1s-x1.25-cap60s-min"]
)
def test_fewer_checks_per_job_than_every_baseline(results, name, baseline):
    assert results[name]["jobcourier"]["checks_per_job"] < results[name][baseline]["checks_per_job"]


@pytest.mark.parametrize("name", NAMES)
def test_lower_p95_lag_than_fixed_60s(results, name):
    assert results[name]["jobcourier"]["lag_p95_s"] < results[name]["fixed-60s"]["lag_p95_s"]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "not met: under SellerPic's 60 s rule ~18 % of its jobs wait > 45 s under any compliant "
        "schedule, and the exponential baseline buys its p95 with 5x the checks and by breaking "
        "that rule (docs/scheduling.md, 'What the goal asks and what holds')"
    ),
)
@pytest.mark.parametrize("name", NAMES)
def test_lower_p95_lag_than_the_exponential_baseline(results, name):
    assert (
        results[name]["jobcourier"]["lag_p95_s"] < results[name]["exp-1s-x1.25-cap60s"]["lag_p95_s"]
    )


@pytest.mark.parametrize("name", NAMES)
def test_memory_is_what_buys_the_first_checks(results, name):
    rows = results[name]
    assert rows["jobcourier"]["checks_per_job"] < rows["jobcourier-no-memory"]["checks_per_job"]


def test_a_bad_workload_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"provider": "fliki", "duration_s": 10}\n{"provider": "fliki"}\n')
    with pytest.raises(ValueError, match="workload line 2"):
        workload.load(path)
