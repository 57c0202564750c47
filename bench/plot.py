"""`uv run --group plot python -m bench.plot --out docs/scheduling.png`: the Pareto plot.

One panel per shape of workload: status checks per job against p95 delivery lag, one curve per
policy as its knob moves (our target lag, the fixed interval, the exponential's cap, each
honouring the providers' minimum intervals), averaged over seeds 1-3; the oracle's curve
below them all (the fewest checks any schedule that knows the distribution needs); a ring on
our curve where the providers' default targets put it. Lower left is better.
matplotlib is in the `plot` dependency group only: nothing else needs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench import oracle, workload
from bench import schedule as bench

KNOBS = (30.0, 40.0, 50.0, 60.0, 75.0, 90.0, 120.0)
SEEDS = (1, 2, 3)
TICKS = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32)
STYLE = {  # policy: (label, colour, marker)
    bench.POLICY: ("jobcourier (target lag)", "#1f77b4", "o"),
    "fixed": ("fixed interval", "#ff7f0e", "s"),
    "exp-min": ("exponential 1 s x1.25, cap", "#2ca02c", "^"),
}


def _oracle_curve(shape: str, lags: np.ndarray) -> np.ndarray:
    runs = [workload.generate(seed, 400, shape=shape) for seed in SEEDS]
    return np.array(
        [np.mean([oracle.bound(jobs, float(lag)).checks_per_job for jobs in runs]) for lag in lags]
    )


def _defaults(shape: str) -> tuple[float, float]:
    rows = []
    for seed in SEEDS:
        got, _ = bench.run(
            workload.generate(seed, 400, shape=shape), seed=seed, instances=1, with_oracle=False
        )
        rows.append(got[0].summary)
    return (
        float(np.mean([r.checks_per_job for r in rows])),
        float(np.mean([r.lag_p95_s for r in rows])),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shapes", nargs="*", default=sorted(workload.SHAPES))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    columns = 4
    rows = -(-len(args.shapes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(13, 3.1 * rows), dpi=80, squeeze=False)
    for ax, shape in zip(axes.flat, args.shapes, strict=False):
        points = bench.mean_sweep(shape, SEEDS, knobs=KNOBS)
        for policy, (label, colour, marker) in STYLE.items():
            mine = sorted((p.lag_p95_s, p.checks_per_job) for p in points if p.policy == policy)
            ax.plot(
                [c for _, c in mine],
                [lag for lag, _ in mine],
                marker=marker,
                color=colour,
                label=label,
                markersize=4,
                linewidth=1.2,
            )
        low = min(p.lag_p95_s for p in points)
        lags = np.linspace(low, max(p.lag_p95_s for p in points), 12)
        bound = _oracle_curve(shape, lags)
        finite = np.isfinite(bound)
        ax.plot(bound[finite], lags[finite], "k--", linewidth=1, label="oracle (lower bound)")
        checks, lag = _defaults(shape)
        ax.plot(
            [checks],
            [lag],
            "o",
            mfc="none",
            mec="#1f77b4",
            markersize=11,
            mew=1.5,
            label="jobcourier, default targets",
        )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(TICKS))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(shape, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes.flat[len(args.shapes) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("p95 lag (s)", fontsize=9)
    for ax in axes[-1, :]:
        ax.set_xlabel("checks per job (log)", fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=9, frameon=False)
    fig.suptitle(
        "Checks per job against p95 lag as each policy's knob moves (seeds 1-3, 400 jobs each; "
        "lower left is better)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
