"""The benchmark runs, prints what it promises, and the policy meets the goal on every shape of
workload and several seeds of each, not on one file:
- fewer checks per job than fixed 60 s, at a p95 lag no worse;
- under half the checks of the exponential baseline that honours the minimum intervals, at a
  p95 lag within 10 % of it;
- zero pacing violations.
Where a relation is not met on a shape and seed, the test says so (strict xfail: it fails once
the relation holds, so the mark goes), with the reason; docs/scheduling.md has the figures."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from bench import oracle, workload
from bench import schedule as bench
from bench.simulate import (
    Exponential,
    FixedInterval,
    Jobcourier,
    Policy,
    Summary,
    simulate,
    submissions,
    summarise,
)

REFERENCE = Path(__file__).resolve().parents[2] / "bench" / "workloads" / "reference.jsonl"
KEYS = {
    "policy",
    "checks_per_job",
    "lag_p50_s",
    "lag_p95_s",
    "lag_p99_s",
    "lag_max_s",
    "pacing_violations",
    "oracle_ratio",
}
SHAPES = sorted(workload.SHAPES)
SEEDS = (1, 2, 3, 4, 5, 6)
JOBS = 400
OURS = ("jobcourier", "jobcourier-no-memory", "jobcourier-8-instances")
EXP_MIN = bench.EXP_MIN


def run_cli(path: Path) -> dict[str, dict[str, Any]]:
    out = io.StringIO()
    with redirect_stdout(out):
        bench.main(["--workload", str(path)])
    lines = out.getvalue().splitlines()
    policies = bench.policies({})
    tail = [json.loads(line) for line in lines[-len(policies) :]]
    assert [row["policy"] for row in tail] == [p.name for p in policies]
    for row in tail:
        assert set(row) == KEYS
        assert isinstance(row["pacing_violations"], int)
        assert row["checks_per_job"] >= 1
        assert 0 <= row["lag_p50_s"] <= row["lag_p95_s"] <= row["lag_p99_s"] <= row["lag_max_s"]
    return {row["policy"]: row for row in tail}


def play(jobs: list[workload.Job], seed: int) -> dict[str, Summary]:
    submitted = submissions(jobs, workload.MEAN_GAP_S, seed)
    deadline = Jobcourier(memory="none").deadline_s
    chosen: list[Policy] = [
        Jobcourier(seed=seed),
        Jobcourier(memory="none", seed=seed, name="jobcourier-no-memory"),
        Jobcourier(
            instances=bench.INSTANCES,
            restart_p=bench.RESTART_P,
            seed=seed,
            name="jobcourier-8-instances",
        ),
        FixedInterval(60.0),
        Exponential(1.0, 1.25, 60.0, honour_minimum=True),
    ]
    return {
        p.name: summarise(p.name, simulate(p, jobs, submitted, deadline_for=deadline))
        for p in chosen
    }


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, int], dict[str, Summary]]:
    return {
        (shape, seed): play(workload.generate(seed, JOBS, shape=shape), seed)
        for shape in SHAPES
        for seed in SEEDS
    }


def cells(not_met: dict[tuple[str, int], str]) -> list[Any]:
    """Every (shape, seed), those in `not_met` marked strict xfail with their reason."""
    return [
        pytest.param(
            shape,
            seed,
            marks=[pytest.mark.xfail(strict=True, reason=not_met[(shape, seed)])]
            if (shape, seed) in not_met
            else [],
            id=f"{shape}-{seed}",
        )
        for shape in SHAPES
        for seed in SEEDS
    ]


@pytest.mark.parametrize(("shape", "seed"), cells({}))
def test_the_policy_never_breaks_a_minimum_interval(results, shape, seed):
    for name in OURS:
        assert results[(shape, seed)][name].pacing_violations == 0


@pytest.mark.parametrize(("shape", "seed"), cells({}))
def test_fewer_checks_than_fixed_60s(results, shape, seed):
    rows = results[(shape, seed)]
    assert rows["jobcourier"].checks_per_job < rows["fixed-60s"].checks_per_job


@pytest.mark.parametrize(("shape", "seed"), cells({}))
def test_p95_lag_no_worse_than_fixed_60s(results, shape, seed):
    rows = results[(shape, seed)]
    assert rows["jobcourier"].lag_p95_s <= rows["fixed-60s"].lag_p95_s


@pytest.mark.parametrize(("shape", "seed"), cells({}))
def test_under_half_the_checks_of_the_compliant_exponential(results, shape, seed):
    rows = results[(shape, seed)]
    assert rows["jobcourier"].checks_per_job < 0.5 * rows[EXP_MIN].checks_per_job


@pytest.mark.parametrize(("shape", "seed"), cells({}))
def test_p95_lag_within_10_percent_of_the_compliant_exponential(results, shape, seed):
    rows = results[(shape, seed)]
    assert rows["jobcourier"].lag_p95_s <= 1.1 * rows[EXP_MIN].lag_p95_s


@pytest.mark.parametrize(("shape", "seed"), cells({}))
def test_memory_saves_checks(results, shape, seed):
    rows = results[(shape, seed)]
    assert rows["jobcourier"].checks_per_job < rows["jobcourier-no-memory"].checks_per_job


# -- the reference file, through the command line ------------------------------------------------
@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    return run_cli(REFERENCE)


def test_the_command_line_prints_the_whole_lag_distribution_and_the_oracle_ratio(reference):
    ours = reference["jobcourier"]
    assert ours["pacing_violations"] == 0
    assert ours["checks_per_job"] < reference["fixed-60s"]["checks_per_job"]
    assert ours["lag_p95_s"] <= reference["fixed-60s"]["lag_p95_s"]
    assert ours["checks_per_job"] < 0.5 * reference[EXP_MIN]["checks_per_job"]
    assert ours["lag_p95_s"] <= 1.1 * reference[EXP_MIN]["lag_p95_s"]
    assert reference["fixed-10s"]["pacing_violations"] > 0  # SellerPic's 60 s
    assert reference["fixed-10s"]["oracle_ratio"] is None  # no compliant schedule is that quick
    assert ours["oracle_ratio"] >= 1.0


@pytest.mark.xfail(
    strict=True,
    reason=(
        "infeasible: under SellerPic's 60 s rule ~18 % of its jobs wait > 45 s under any "
        "compliant schedule; the exponential baseline buys its p95 with 5x the checks and by "
        "breaking that rule (docs/scheduling.md)"
    ),
)
def test_lower_p95_lag_than_the_rule_breaking_exponential(reference):
    assert reference["jobcourier"]["lag_p95_s"] < reference["exp-1s-x1.25-cap60s"]["lag_p95_s"]


# -- the oracle: a bound no schedule beats, and how far from it the policy is --------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_no_compliant_policy_beats_the_oracle(results, shape):
    jobs = workload.generate(1, JOBS, shape=shape)
    for summary in results[(shape, 1)].values():
        bound = oracle.bound(jobs, summary.lag_p95_s)
        assert summary.checks_per_job >= bound.checks_per_job - 1e-9, summary.policy


STRETCH = (
    "stretch goal not met: 1.4-2.5x the oracle's checks at equal p95 lag outside short (seeds "
    "1-3). The oracle knows the distribution: how early the fastest jobs finish (the policy "
    "sees only that a job it first finds done was done by then, and guesses the rest from the "
    "jobs just after), and each job's exact duration from its first sample of progress (the "
    "policy reads one sample only as closely as recent jobs' progress allows); "
    "docs/scheduling.md"
)


@pytest.mark.parametrize(
    "shape",
    [
        s
        if s == "short"
        else pytest.param(s, marks=[pytest.mark.xfail(strict=True, reason=STRETCH)])
        for s in SHAPES
    ],
)
def test_within_1_3_times_the_oracle(results, shape):
    jobs = workload.generate(1, JOBS, shape=shape)
    ours = results[(shape, 1)]["jobcourier"]
    assert ours.checks_per_job <= 1.3 * oracle.bound(jobs, ours.lag_p95_s).checks_per_job


# -- the knob: checks against lag as the target moves --------------------------------------------
SWEPT = ("reference", "short", "long", "heavy", "drift")
KNOBS = (30.0, 45.0, 60.0, 90.0)


@pytest.fixture(scope="module")
def sweeps() -> dict[str, list[bench.Point]]:
    return {shape: bench.mean_sweep(shape, (1, 2, 3), knobs=KNOBS) for shape in SWEPT}


SHORT_CURVE = (
    "not met on short against fixed 90 s alone: it checks nearly every short job once, at "
    "90 s (1.143 checks per job, p95 85.0 s); our 90 s target costs 1.156 at p95 80.9 s, left "
    "of that point but not below it. The extra checks: first checks before anything is known "
    "(first_check_s, 30-60 s, sooner than a 90 s target) and first checks jittered a few "
    "seconds early (SellerPic's image-to-video, 80-90 s); docs/scheduling.md"
)


def _curve_cells() -> list[Any]:
    return [
        pytest.param(
            shape,
            baseline,
            marks=[pytest.mark.xfail(strict=True, reason=SHORT_CURVE)]
            if (shape, baseline) == ("short", "fixed")
            else [],
            id=f"{baseline}-{shape}",
        )
        for shape in SWEPT
        for baseline in ("fixed", "exp-min")
    ]


@pytest.mark.parametrize(("shape", "baseline"), _curve_cells())
def test_the_policy_curve_lies_below_every_baseline_curve_where_it_reaches(sweeps, shape, baseline):
    """At every p95 lag a baseline's knob reaches and some target of ours reaches too, ours
    costs fewer checks per job (curves averaged over seeds 1-3)."""
    points = sweeps[shape]
    assert all(p.violations == 0 for p in points)
    compared = 0
    for p in (p for p in points if p.policy == baseline):
        ours = bench.checks_at(points, bench.POLICY, p.lag_p95_s)
        if ours is not None:
            compared += 1
            assert ours < p.checks_per_job, (p.knob_s, p.lag_p95_s, ours, p.checks_per_job)
    assert compared >= 1


WALL = (
    "not met by 1.0-3.4 s: below about 50 s every compliant curve meets SellerPic's wall "
    "(checks 60 s apart leave a sixth of its jobs more than 50 s late, a third of the 5 %); "
    "the baselines reach it at 1.5-3x our checks, our 30 s target only a little above it, "
    "its fastest and slowest jobs waiting longer (docs/scheduling.md). On short, where "
    "SellerPic's lags alone set every compliant p95, ours reaches it"
)


@pytest.mark.parametrize(
    "shape",
    [
        s if s == "short" else pytest.param(s, marks=[pytest.mark.xfail(strict=True, reason=WALL)])
        for s in SWEPT
    ],
)
def test_the_policy_curve_reaches_the_lowest_lag_of_every_baseline(sweeps, shape):
    points = sweeps[shape]
    ours = min(p.lag_p95_s for p in points if p.policy == bench.POLICY)
    assert ours <= min(p.lag_p95_s for p in points if p.policy != bench.POLICY)


def test_the_target_moves_the_policy_along_its_curve(sweeps):
    mine = sorted(
        (p.knob_s, p.checks_per_job, p.lag_p95_s)
        for p in sweeps["long"]
        if p.policy == bench.POLICY
    )
    checks = [c for _, c, _ in mine]
    assert checks[-1] < checks[1] < checks[0] * 1.5  # a longer target, fewer checks ...
    assert mine[-1][2] > mine[1][2]  # ... and more lag


# -- where the memory lives ----------------------------------------------------------------------
def test_carrying_recent_durations_in_tasks_saves_what_many_instances_and_cold_starts_cost():
    totals: dict[str, float] = {}
    for shape in ("reference", "burst", "drift", "long"):
        for seed in (1, 2):
            for s in bench.memory_study(workload.generate(seed, JOBS, shape=shape), seed=seed):
                totals[s.policy] = totals.get(s.policy, 0.0) + s.checks_per_job
    assert totals["in tasks, 8 inst., 1 % cold"] < totals["8 instances, 1 % cold"]
    assert totals["in tasks, 32 inst., 5 % cold"] < totals["32 instances, 5 % cold"]
    assert totals["shared, any instances"] <= totals["in tasks, 8 inst., 1 % cold"]
    assert totals["none"] > totals["32 instances, 5 % cold"]


def test_a_bad_workload_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"provider": "fliki", "duration_s": 10}\n{"provider": "fliki"}\n')
    with pytest.raises(ValueError, match="workload line 2"):
        workload.load(path)


def test_a_shape_runs_from_the_command_line():
    out = io.StringIO()
    with redirect_stdout(out):
        bench.main(["--shape", "drift", "--seed", "3", "--jobs", "60", "--no-oracle"])
    rows = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert [r["policy"] for r in rows] == [p.name for p in bench.policies({})]
    assert all(r["oracle_ratio"] is None for r in rows)
    assert math.isfinite(rows[0]["lag_p99_s"])
