"""`uv run --with matplotlib python -m bench.plot --out docs/scheduling.png`: checks per job
against p95 delivery lag, one point per policy, on the reference workload (and, fainter, on
generated ones). matplotlib is not a project dependency: it is fetched for this command only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import schedule as bench
from bench import workload

REFERENCE = Path(__file__).resolve().parent / "workloads" / "reference.jsonl"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__)
    parser.add_argument("--workload", type=Path, default=REFERENCE)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[1, 2],
        help="generated workloads drawn fainter (400 jobs each)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    colours: dict[str, str] = {}
    palette = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"])

    def colour_of(policy: str) -> str:
        if policy not in colours:
            colours[policy] = next(palette)
        return colours[policy]

    for seed in args.seeds:
        totals, _ = bench.run(workload.generate(seed, 400), instances=4)
        for s in totals:
            ax.scatter(s.checks_per_job, s.lag_p95_s, color=colour_of(s.policy), alpha=0.3, s=25)
    totals, _ = bench.run(workload.load(args.workload), instances=4)
    for s in totals:
        label = f"{s.policy} ({s.pacing_violations} violations)"
        ax.scatter(
            s.checks_per_job,
            s.lag_p95_s,
            color=colour_of(s.policy),
            s=70,
            label=label,
            marker="o" if s.pacing_violations == 0 else "X",
        )
    ax.set_xscale("log")
    ax.set_xlabel("status checks per job (log)")
    ax.set_ylabel("p95 delivery lag (s)")
    ax.set_title(
        f"{args.workload.name} (large) and seeds {args.seeds} (faint): lower left is better",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
