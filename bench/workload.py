"""Workloads: JSON lines `{"provider": "fliki", "duration_s": 240.0, "progress": "linear"}`.

`python -m bench.workload --seed N --jobs M > file` writes a workload nobody tuned for: the
provider mix, each kind of job's typical duration and spread, Gepetto's cold-start rate and
how Fliki reports progress are all drawn from the seed around the reference profiles below.
`--reference` keeps the profiles as they are (bench/workloads/reference.jsonl was written with
`--reference --seed 2026 --jobs 400`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROGRESS_KINDS = ("none", "linear", "stepwise")


@dataclass(frozen=True)
class Job:
    provider: str
    duration_s: float  # from submission to done, at the provider
    progress: str = "none"  # how the provider reports progress: none | linear | stepwise

    def __post_init__(self) -> None:
        if self.progress not in PROGRESS_KINDS:
            raise ValueError(f"progress must be one of {PROGRESS_KINDS}. Found: {self.progress!r}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration_s must be a positive number. Found: {self.duration_s!r}")

    def to_json(self) -> dict[str, object]:
        return {"provider": self.provider, "duration_s": self.duration_s, "progress": self.progress}


@dataclass(frozen=True)
class Kind:
    """One kind of job: lognormal duration (median, sigma), clipped, maybe a cold start."""

    provider: str
    share: float  # of all jobs
    median_s: float
    sigma: float
    low_s: float
    high_s: float
    cold_start_p: float = 0.0  # Gepetto: an idle model adds 1-4 minutes
    progress: tuple[float, float, float] = (1.0, 0.0, 0.0)  # shares of none, linear, stepwise


# Images: tens of seconds to a few minutes. Videos: minutes.
REFERENCE = (
    Kind("spacely", 0.30, median_s=40, sigma=0.45, low_s=8, high_s=300),
    Kind("gepetto", 0.20, median_s=25, sigma=0.35, low_s=8, high_s=400, cold_start_p=0.3),
    Kind("sellerpic", 0.19, median_s=75, sigma=0.40, low_s=20, high_s=400),  # images
    Kind("sellerpic", 0.06, median_s=240, sigma=0.35, low_s=90, high_s=900),  # image-to-video
    Kind("fliki", 0.25, median_s=300, sigma=0.50, low_s=60, high_s=1800, progress=(0.1, 0.6, 0.3)),
)


def perturbed(kinds: Iterable[Kind], rng: random.Random) -> tuple[Kind, ...]:
    """The profiles, each moved by the seed: mix, typical duration, spread, cold starts."""
    out = []
    for k in kinds:
        none, linear, stepwise = (w * rng.uniform(0.3, 1.7) for w in k.progress)
        total = none + linear + stepwise
        out.append(
            Kind(
                k.provider,
                share=k.share * rng.uniform(0.4, 1.6),
                median_s=k.median_s * rng.uniform(0.6, 1.6),
                sigma=k.sigma * rng.uniform(0.8, 1.3),
                low_s=k.low_s,
                high_s=k.high_s * 1.6,
                cold_start_p=min(k.cold_start_p * rng.uniform(0.3, 1.7), 0.9),
                progress=(none / total, linear / total, stepwise / total),
            )
        )
    return tuple(out)


def generate(seed: int, jobs: int, *, reference: bool = False) -> list[Job]:
    rng = random.Random(seed)
    kinds = REFERENCE if reference else perturbed(REFERENCE, rng)
    weights = [k.share for k in kinds]
    out = []
    for _ in range(jobs):
        kind = rng.choices(kinds, weights)[0]
        duration = kind.median_s * math.exp(rng.gauss(0, kind.sigma))
        if rng.random() < kind.cold_start_p:
            duration += rng.uniform(60, 240)
        duration = min(max(duration, kind.low_s), kind.high_s)
        progress = rng.choices(PROGRESS_KINDS, kind.progress)[0]
        out.append(Job(kind.provider, round(duration, 1), progress))
    return out


def load(path: Path) -> list[Job]:
    return list(parse(path.read_text().splitlines()))


def parse(lines: Iterable[str]) -> Iterator[Job]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            progress = str(raw.get("progress", "none"))
            yield Job(str(raw["provider"]), float(raw["duration_s"]), progress)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"workload line {number}: {exc}") from exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--reference", action="store_true", help="the profiles unperturbed")
    args = parser.parse_args(argv)
    for job in generate(args.seed, args.jobs, reference=args.reference):
        sys.stdout.write(json.dumps(job.to_json()) + "\n")


if __name__ == "__main__":
    main()
