"""`python -m bench.schedule --workload FILE`: the policy against the baselines.

Prints a table per policy (mean checks per job, p50/p95/max delivery lag, pacing violations),
optionally per provider, and ends with one JSON object per policy per line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench import workload
from bench.simulate import (
    Exponential,
    FixedInterval,
    Jobcourier,
    Policy,
    Summary,
    arrivals,
    simulate,
    summarise,
)
from jobcourier.config import PROVIDERS
from jobcourier.pacing import parse_overrides

BASELINES = ("fixed-10s", "fixed-60s", "exp-1s-x1.25-cap60s", "exp-1s-x1.25-cap60s-min")
POLICY = "jobcourier"


def policies(
    overrides: Mapping[str, Mapping[str, float | bool]], *, instances: int, seed: int
) -> list[Policy]:
    out: list[Policy] = [
        Jobcourier(overrides, remember=True, instances=1, seed=seed),
        Jobcourier(overrides, remember=False, seed=seed, name="jobcourier-no-memory"),
    ]
    if instances > 1:
        out.append(
            Jobcourier(
                overrides,
                remember=True,
                instances=instances,
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


def run(
    jobs: Sequence[workload.Job],
    *,
    overrides: Mapping[str, Mapping[str, float | bool]] | None = None,
    instances: int = 1,
    mean_gap_s: float = 20.0,
    seed: int = 0,
    by_provider: bool = False,
) -> tuple[list[Summary], list[tuple[str, Summary]]]:
    """Summaries per policy, and (by_provider) per provider and policy."""
    unknown = sorted({j.provider for j in jobs} - set(PROVIDERS))
    if unknown:
        raise ValueError(f"unknown providers in the workload: {unknown}")
    submitted = arrivals(len(jobs), mean_gap_s, seed)
    totals, split = [], []
    for policy in policies(overrides or {}, instances=instances, seed=seed):
        courier = Jobcourier(overrides or {}, remember=False)  # whose deadlines every policy keeps
        outcomes = simulate(policy, jobs, submitted, deadline_for=courier.deadline_s)
        totals.append(summarise(policy.name, outcomes))
        if by_provider:
            for provider in PROVIDERS:
                mine = [o for o in outcomes if o.provider == provider]
                if mine:
                    split.append((provider, summarise(policy.name, mine)))
    return totals, split


def table(rows: Sequence[Summary], title: str) -> str:
    lines = [
        title,
        f"{'policy':<26}{'jobs':>6}{'checks/job':>12}{'lag p50':>9}{'p95':>8}"
        f"{'max':>8}{'violations':>12}{'timed out':>11}",
    ]
    lines += [
        f"{r.policy:<26}{r.jobs:>6}{r.checks_per_job:>12.2f}{r.lag_p50_s:>9.1f}"
        f"{r.lag_p95_s:>8.1f}{r.lag_max_s:>8.1f}{r.pacing_violations:>12}{r.timed_out:>11}"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.schedule", description=__doc__)
    parser.add_argument("--workload", type=Path, required=True, help="JSON lines, one job each")
    parser.add_argument("--pacing", default="", help="overrides, as JOBCOURIER_PACING takes them")
    parser.add_argument(
        "--instances",
        type=int,
        default=4,
        help="also run the policy spread over this many instances (default 4)",
    )
    parser.add_argument("--gap", type=float, default=20.0, help="mean seconds between submissions")
    parser.add_argument("--seed", type=int, default=0, help="arrivals, jitter, dispatch")
    parser.add_argument("--by-provider", action="store_true", help="a table per provider too")
    args = parser.parse_args(argv)
    jobs = workload.load(args.workload)
    overrides = parse_overrides(args.pacing, PROVIDERS, source="--pacing")
    totals, split = run(
        jobs,
        overrides=overrides,
        instances=args.instances,
        mean_gap_s=args.gap,
        seed=args.seed,
        by_provider=args.by_provider,
    )
    out = [table(totals, f"workload {args.workload}: {len(jobs)} jobs")]
    for provider in PROVIDERS:
        rows = [s for p, s in split if p == provider]
        if rows:
            out.append(table(rows, f"\n{provider}"))
    out += [json.dumps(s.to_json()) for s in totals]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
