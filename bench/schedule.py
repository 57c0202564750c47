"""`python -m bench.schedule --workload FILE` or `--shape S [--seed N]`: the policy against
the baselines.

Prints a table per policy (mean checks per job, p50/p95/p99/max delivery lag, pacing
violations, and the checks as a ratio of the oracle's at the same p95 lag), optionally per
provider; `--sweep` adds each policy's checks against p95 lag as its knob moves (our target
lag, the fixed interval, the exponential's cap); `--memory` compares where the memory of
recent durations lives. Ends with one JSON object per policy per line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import oracle, workload
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
from jobcourier.config import PROVIDERS
from jobcourier.pacing import parse_overrides
from jobcourier.providers import REGISTRY

Overrides = Mapping[str, Mapping[str, float | bool]]
BASELINES = ("fixed-10s", "fixed-60s", "exp-1s-x1.25-cap60s", "exp-1s-x1.25-cap60s-min")
POLICY = "jobcourier"
EXP_MIN = "exp-1s-x1.25-cap60s-min"
INSTANCES = 8  # the many-instance row: every check lands on one of them at random ...
RESTART_P = 0.01  # ... and 1 % of dispatches land on a new instance (a cold start)
SWEEP_S = (30.0, 40.0, 50.0, 60.0, 75.0, 90.0, 120.0)  # the knob, in seconds


def policies(
    overrides: Overrides,
    *,
    instances: int = INSTANCES,
    restart_p: float = RESTART_P,
    seed: int = 0,
) -> list[Policy]:
    out: list[Policy] = [
        Jobcourier(overrides, seed=seed),
        Jobcourier(overrides, memory="none", seed=seed, name="jobcourier-no-memory"),
    ]
    if instances > 1:
        out.append(
            Jobcourier(
                overrides,
                instances=instances,
                restart_p=restart_p,
                seed=seed,
                name=f"jobcourier-{instances}-instances",
            )
        )
    out += [
        FixedInterval(10.0),
        FixedInterval(60.0),
        Exponential(1.0, 1.25, 60.0),
        Exponential(1.0, 1.25, 60.0, honour_minimum=True),
    ]
    return out


@dataclass(frozen=True)
class Row:
    summary: Summary
    oracle_checks: float | None  # the bound at the row's p95 lag (inf: no schedule meets it)

    @property
    def oracle_ratio(self) -> float | None:
        if self.oracle_checks is None or not math.isfinite(self.oracle_checks):
            return None
        return self.summary.checks_per_job / self.oracle_checks

    def to_json(self) -> dict[str, object]:
        ratio = self.oracle_ratio
        return {
            **self.summary.to_json(),
            "oracle_ratio": None if ratio is None else round(ratio, 3),
        }


def _check(jobs: Sequence[workload.Job]) -> None:
    unknown = sorted({j.provider for j in jobs} - set(PROVIDERS))
    if unknown:
        raise ValueError(f"unknown providers in the workload: {unknown}")


def run(
    jobs: Sequence[workload.Job],
    *,
    overrides: Overrides | None = None,
    instances: int = INSTANCES,
    restart_p: float = RESTART_P,
    mean_gap_s: float = workload.MEAN_GAP_S,
    seed: int = 0,
    by_provider: bool = False,
    with_oracle: bool = True,
) -> tuple[list[Row], list[tuple[str, Summary]]]:
    """A row per policy, and (by_provider) a summary per provider and policy."""
    _check(jobs)
    submitted = submissions(jobs, mean_gap_s, seed)
    courier = Jobcourier(overrides or {}, memory="none")  # whose deadlines every policy keeps
    rows, split = [], []
    chosen = policies(overrides or {}, instances=instances, restart_p=restart_p, seed=seed)
    for policy in chosen:
        outcomes = simulate(policy, jobs, submitted, deadline_for=courier.deadline_s)
        summary = summarise(policy.name, outcomes)
        bound = oracle.bound(jobs, summary.lag_p95_s).checks_per_job if with_oracle else None
        rows.append(Row(summary, bound))
        if by_provider:
            for provider in PROVIDERS:
                mine = [o for o in outcomes if o.provider == provider]
                if mine:
                    split.append((provider, summarise(policy.name, mine)))
    return rows, split


# -- the knob swept ------------------------------------------------------------------------------
def with_target(overrides: Overrides, target_s: float) -> dict[str, dict[str, float | bool]]:
    """`overrides` with every provider's target lag set to `target_s`."""
    return {p: {**overrides.get(p, {}), "target_lag_s": target_s} for p in REGISTRY}


def swept(overrides: Overrides, knob_s: float, *, seed: int = 0) -> list[Policy]:
    """Each policy at one setting of its knob: our target lag, the fixed interval (at least
    each provider's minimum: a baseline that breaks the rules is no point of comparison),
    the exponential's cap (honouring the minimum)."""
    return [
        Jobcourier(with_target(overrides, knob_s), seed=seed, name=POLICY),
        FixedInterval(knob_s, honour_minimum=True, name="fixed"),
        Exponential(1.0, 1.25, knob_s, honour_minimum=True, name="exp-min"),
    ]


@dataclass(frozen=True)
class Point:
    policy: str
    knob_s: float
    checks_per_job: float
    lag_p95_s: float
    violations: int


def sweep(
    jobs: Sequence[workload.Job],
    *,
    overrides: Overrides | None = None,
    knobs: Sequence[float] = SWEEP_S,
    mean_gap_s: float = workload.MEAN_GAP_S,
    seed: int = 0,
) -> list[Point]:
    """Every policy's checks per job against p95 lag, one point per setting of its knob."""
    _check(jobs)
    submitted = submissions(jobs, mean_gap_s, seed)
    courier = Jobcourier(overrides or {}, memory="none")
    points = []
    for knob in knobs:
        for policy in swept(overrides or {}, knob, seed=seed):
            s = summarise(
                policy.name, simulate(policy, jobs, submitted, deadline_for=courier.deadline_s)
            )
            points.append(
                Point(policy.name, knob, s.checks_per_job, s.lag_p95_s, s.pacing_violations)
            )
    return points


def mean_sweep(
    shape: str,
    seeds: Sequence[int],
    *,
    overrides: Overrides | None = None,
    knobs: Sequence[float] = SWEEP_S,
    jobs: int = 400,
) -> list[Point]:
    """`sweep` over the shape's workloads for each seed (simulated with that seed too),
    checks and p95 lag averaged: one seed's p95 moves by a second or two with the luck of
    where SellerPic's 60 s gaps fall."""
    runs: dict[tuple[str, float], list[Point]] = {}
    for seed in seeds:
        generated = workload.generate(seed, jobs, shape=shape)
        for p in sweep(generated, overrides=overrides, knobs=knobs, seed=seed):
            runs.setdefault((p.policy, p.knob_s), []).append(p)
    return [
        Point(
            policy,
            knob,
            sum(p.checks_per_job for p in got) / len(got),
            sum(p.lag_p95_s for p in got) / len(got),
            sum(p.violations for p in got),
        )
        for (policy, knob), got in runs.items()
    ]


def checks_at(points: Sequence[Point], policy: str, lag_s: float) -> float | None:
    """The policy's checks per job at `lag_s` p95 lag, read off its curve (linear between its
    points, each point's curve made monotone: fewer checks never buy less lag); None outside
    the lags it reached."""
    mine = sorted((p.lag_p95_s, p.checks_per_job) for p in points if p.policy == policy)
    frontier: list[tuple[float, float]] = []  # lag rising, checks falling
    for lag, checks in mine:
        if not frontier or checks < frontier[-1][1]:
            frontier.append((lag, checks))
    if not frontier or not frontier[0][0] <= lag_s:
        return None
    for (l0, c0), (l1, c1) in zip(frontier, frontier[1:], strict=False):
        if l0 <= lag_s <= l1:
            return c0 + (c1 - c0) * (lag_s - l0) / (l1 - l0) if l1 > l0 else min(c0, c1)
    return frontier[-1][1]  # past its last point: what that point costs


# -- where the memory lives ----------------------------------------------------------------------
MEMORY_VARIANTS: tuple[tuple[str, str, int, float], ...] = (
    # (name, memory, instances, restart chance per dispatch)
    ("one instance", "instance", 1, 0.0),
    ("8 instances", "instance", 8, 0.0),
    ("8 instances, 1 % cold", "instance", 8, 0.01),
    ("32 instances, 5 % cold", "instance", 32, 0.05),
    ("in tasks, 8 inst., 1 % cold", "task", 8, 0.01),
    ("in tasks, 32 inst., 5 % cold", "task", 32, 0.05),
    ("shared, any instances", "shared", 8, 0.0),
    ("none", "none", 1, 0.0),
)


def memory_study(
    jobs: Sequence[workload.Job],
    *,
    overrides: Overrides | None = None,
    mean_gap_s: float = workload.MEAN_GAP_S,
    seed: int = 0,
) -> list[Summary]:
    """The policy with its memory per instance (lost on cold starts), shared by all instances
    and never lost (what a shared store or a summary carried in every task could give at
    best), or none."""
    _check(jobs)
    submitted = submissions(jobs, mean_gap_s, seed)
    courier = Jobcourier(overrides or {}, memory="none")
    out = []
    for name, memory, instances, restart_p in MEMORY_VARIANTS:
        policy = Jobcourier(
            overrides or {},
            memory=memory,
            instances=instances,
            restart_p=restart_p,
            seed=seed,
            name=name,
        )
        out.append(
            summarise(name, simulate(policy, jobs, submitted, deadline_for=courier.deadline_s))
        )
    return out


# -- printing ------------------------------------------------------------------------------------
def table(rows: Sequence[Row | Summary], title: str) -> str:
    lines = [
        title,
        f"{'policy':<30}{'jobs':>6}{'checks/job':>12}{'lag p50':>9}{'p95':>8}{'p99':>8}"
        f"{'max':>8}{'violations':>12}{'timed out':>11}{'x oracle':>10}",
    ]
    for row in rows:
        r = row.summary if isinstance(row, Row) else row
        ratio = row.oracle_ratio if isinstance(row, Row) else None
        lines.append(
            f"{r.policy:<30}{r.jobs:>6}{r.checks_per_job:>12.2f}{r.lag_p50_s:>9.1f}"
            f"{r.lag_p95_s:>8.1f}{r.lag_p99_s:>8.1f}{r.lag_max_s:>8.1f}{r.pacing_violations:>12}"
            f"{r.timed_out:>11}{'' if ratio is None else f'{ratio:.2f}':>10}"
        )
    return "\n".join(lines)


def sweep_table(points: Sequence[Point]) -> str:
    names = list(dict.fromkeys(p.policy for p in points))
    knobs = sorted({p.knob_s for p in points})
    head = f"{'knob (s)':<10}" + "".join(f"{n + ' checks/p95':>24}" for n in names)
    lines = ["\nsweep: target lag (jobcourier), interval (fixed), cap (exp-min)", head]
    for knob in knobs:
        cells = []
        for name in names:
            [p] = [p for p in points if p.policy == name and p.knob_s == knob]
            cells.append(f"{p.checks_per_job:>15.2f} /{p.lag_p95_s:>6.1f}")
        lines.append(f"{knob:<10g}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.schedule", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workload", type=Path, help="JSON lines, one job each")
    source.add_argument("--shape", choices=sorted(workload.SHAPES), help="a generated workload")
    parser.add_argument("--seed", type=int, default=1, help="the generated workload's seed")
    parser.add_argument("--jobs", type=int, default=400, help="jobs in a generated workload")
    parser.add_argument("--pacing", default="", help="overrides, as JOBCOURIER_PACING takes them")
    parser.add_argument(
        "--instances",
        type=int,
        default=INSTANCES,
        help=f"also run the policy spread over this many instances (default {INSTANCES})",
    )
    parser.add_argument(
        "--restart",
        type=float,
        default=RESTART_P,
        help="... each dispatch landing on a new instance with this chance (default 0.01)",
    )
    parser.add_argument("--gap", type=float, default=20.0, help="mean seconds between submissions")
    parser.add_argument(
        "--sim-seed",
        type=int,
        help="arrivals (a file without times), jitter, dispatch (default: --seed, or 0 for a file)",
    )
    parser.add_argument("--by-provider", action="store_true", help="a table per provider too")
    parser.add_argument("--sweep", action="store_true", help="each policy's knob swept")
    parser.add_argument("--memory", action="store_true", help="where the memory lives")
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle (faster)")
    args = parser.parse_args(argv)
    if args.workload is not None:
        jobs = workload.load(args.workload)
        title = f"workload {args.workload}: {len(jobs)} jobs"
    else:
        jobs = workload.generate(args.seed, args.jobs, shape=args.shape)
        title = f"shape {args.shape}, seed {args.seed}: {len(jobs)} jobs"
    overrides = parse_overrides(args.pacing, PROVIDERS, source="--pacing")
    if args.sim_seed is None:
        args.sim_seed = 0 if args.workload is not None else args.seed
    rows, split = run(
        jobs,
        overrides=overrides,
        instances=args.instances,
        restart_p=args.restart,
        mean_gap_s=args.gap,
        seed=args.sim_seed,
        by_provider=args.by_provider,
        with_oracle=not args.no_oracle,
    )
    out = [table(rows, title)]
    for provider in PROVIDERS:
        mine = [s for p, s in split if p == provider]
        if mine:
            out.append(table(mine, f"\n{provider}"))
    if args.sweep:
        out.append(
            sweep_table(sweep(jobs, overrides=overrides, mean_gap_s=args.gap, seed=args.sim_seed))
        )
    if args.memory:
        study = memory_study(jobs, overrides=overrides, mean_gap_s=args.gap, seed=args.sim_seed)
        out.append(table(study, "\nwhere the memory lives"))
    out += [json.dumps(r.to_json()) for r in rows]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
