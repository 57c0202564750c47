"""Workloads: JSON lines `{"provider": "fliki", "duration_s": 240.0, "progress": "linear"}`,
optionally with `"submitted_s"` (when the job arrives; without it the simulator draws Poisson
arrivals) and `"phase"` (the drift shape: 0 before the change, 1 after).

`python -m bench.workload --seed N --jobs M [--shape S] > file` writes a workload nobody tuned
for. Every shape starts from the reference profiles below moved by the seed (provider mix,
each kind of job's typical duration and spread, cold-start rate, how Fliki reports progress),
then bends them (SHAPES says how). `--reference` keeps the profiles as they are
(bench/workloads/reference.jsonl was written with `--reference --seed 2026 --jobs 400`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from jobcourier.providers import REGISTRY

PROGRESS_KINDS = ("none", "linear", "stepwise")
MEAN_GAP_S = 20.0  # between submissions, on average, in every shape
DEADLINE_SHARE = 0.9  # no job runs past this share of its provider's default deadline


@dataclass(frozen=True)
class Job:
    provider: str
    duration_s: float  # from submission to done, at the provider
    progress: str = "none"  # how the provider reports progress: none | linear | stepwise
    submitted_s: float | None = None  # when the job arrives (None: the simulator draws it)
    phase: int = 0  # the drift shape: which half of the workload the job belongs to

    def __post_init__(self) -> None:
        if self.progress not in PROGRESS_KINDS:
            raise ValueError(f"progress must be one of {PROGRESS_KINDS}. Found: {self.progress!r}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration_s must be a positive number. Found: {self.duration_s!r}")
        if self.submitted_s is not None and not (
            math.isfinite(self.submitted_s) and self.submitted_s >= 0
        ):
            raise ValueError(f"submitted_s must be a number >= 0. Found: {self.submitted_s!r}")

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "provider": self.provider,
            "duration_s": self.duration_s,
            "progress": self.progress,
        }
        if self.submitted_s is not None:
            out["submitted_s"] = self.submitted_s
        if self.phase:
            out["phase"] = self.phase
        return out


@dataclass(frozen=True)
class Kind:
    """One kind of job: lognormal duration (median, sigma), clipped, maybe a cold start, maybe
    a Pareto tail."""

    provider: str
    share: float  # of all jobs
    median_s: float
    sigma: float
    low_s: float
    high_s: float
    cold_start_p: float = 0.0  # Gepetto: an idle model adds cold_start_s
    progress: tuple[float, float, float] = (1.0, 0.0, 0.0)  # shares of none, linear, stepwise
    cold_start_s: tuple[float, float] = (60.0, 240.0)  # what a cold start adds, uniform
    tail_p: float = 0.0  # share of jobs drawn from a Pareto tail instead
    tail_alpha: float = 1.5  # the tail's index (smaller: heavier)

    @property
    def tail_from_s(self) -> float:
        """Where the Pareto tail starts: past the kind's usual slowest jobs, cold ones too."""
        cold = self.cold_start_s[1] if self.cold_start_p else 0.0
        return self.median_s * math.exp(2 * self.sigma) + cold

    def scaled(self, factor: float) -> Kind:
        """Every duration of this kind times `factor` (cold starts and clipping included)."""
        lo, hi = self.cold_start_s
        return replace(
            self,
            median_s=self.median_s * factor,
            low_s=self.low_s * factor,
            high_s=self.high_s * factor,
            cold_start_s=(lo * factor, hi * factor),
        )


# Images: tens of seconds to a few minutes. Videos: minutes.
REFERENCE = (
    Kind("spacely", 0.30, median_s=40, sigma=0.45, low_s=8, high_s=300),
    Kind("gepetto", 0.20, median_s=25, sigma=0.35, low_s=8, high_s=400, cold_start_p=0.3),
    Kind("sellerpic", 0.19, median_s=75, sigma=0.40, low_s=20, high_s=400),  # images
    Kind("sellerpic", 0.06, median_s=240, sigma=0.35, low_s=90, high_s=900),  # image-to-video
    Kind("fliki", 0.25, median_s=300, sigma=0.50, low_s=60, high_s=1800, progress=(0.1, 0.6, 0.3)),
)
PROVIDERS = tuple(dict.fromkeys(k.provider for k in REFERENCE))


def perturbed(kinds: Iterable[Kind], rng: random.Random) -> tuple[Kind, ...]:
    """The profiles, each moved by the seed: mix, typical duration, spread, cold starts."""
    out = []
    for k in kinds:
        none, linear, stepwise = (w * rng.uniform(0.3, 1.7) for w in k.progress)
        total = none + linear + stepwise
        out.append(
            replace(
                k,
                share=k.share * rng.uniform(0.4, 1.6),
                median_s=k.median_s * rng.uniform(0.6, 1.6),
                sigma=k.sigma * rng.uniform(0.8, 1.3),
                high_s=k.high_s * 1.6,
                cold_start_p=min(k.cold_start_p * rng.uniform(0.3, 1.7), 0.9),
                progress=(none / total, linear / total, stepwise / total),
            )
        )
    return tuple(out)


# -- shapes: how a workload bends the seed's profiles ------------------------------------------
Profiles = tuple[tuple[Kind, ...], tuple[Kind, ...]]  # before and after the halfway change


def _by_provider(kinds: Sequence[Kind], factor: Callable[[str], float]) -> tuple[Kind, ...]:
    return tuple(k.scaled(factor(k.provider)) for k in kinds)


def _reference(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    return kinds, kinds


def _shifted(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    """Each provider's durations times its own factor, log-uniform in [0.3, 5]."""
    factors = {p: math.exp(rng.uniform(math.log(0.3), math.log(5.0))) for p in PROVIDERS}
    moved = _by_provider(kinds, factors.__getitem__)
    return moved, moved


def _short(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    """Every duration times 0.3."""
    moved = _by_provider(kinds, lambda _: 0.3)
    return moved, moved


def _long(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    """Every duration times 5."""
    moved = _by_provider(kinds, lambda _: 5.0)
    return moved, moved


def _bimodal(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    """Cold starts on every provider: 20-40 % of jobs take 3-5 x the usual duration longer."""
    out = []
    for k in kinds:
        extra = (k.median_s * 3.0, k.median_s * 5.0)
        out.append(
            replace(
                k,
                sigma=k.sigma * 0.7,
                cold_start_p=rng.uniform(0.2, 0.4),
                cold_start_s=extra,
                high_s=k.high_s + extra[1],
            )
        )
    return tuple(out), tuple(out)


def _heavy(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    """10-20 % of every kind's jobs from a Pareto tail (index 1.1-1.6) that starts past the
    kind's usual slowest jobs (Kind.tail_from_s)."""
    out = tuple(
        replace(
            k,
            tail_p=rng.uniform(0.1, 0.2),
            tail_alpha=rng.uniform(1.1, 1.6),
            high_s=math.inf,  # only the deadline clips the tail
        )
        for k in kinds
    )
    return out, out


def _drift(kinds: tuple[Kind, ...], rng: random.Random) -> Profiles:
    """Halfway through, each provider's durations change by x2-3, up or down (its own draw)."""
    factors = {
        p: math.exp(rng.choice((-1, 1)) * rng.uniform(math.log(2.0), math.log(3.0)))
        for p in PROVIDERS
    }
    return kinds, _by_provider(kinds, factors.__getitem__)


SHAPES: dict[str, Callable[[tuple[Kind, ...], random.Random], Profiles]] = {
    "reference": _reference,  # the seed's profiles as drawn
    "shifted": _shifted,
    "short": _short,
    "long": _long,
    "bimodal": _bimodal,
    "heavy": _heavy,
    "drift": _drift,
    "burst": _reference,  # the seed's profiles, submitted in bursts (see arrivals)
}
BURST_JOBS = (20, 60)  # jobs per burst
BURST_WINDOW_S = 10.0  # a burst's jobs all arrive within this


def arrivals(count: int, seed: int, *, shape: str = "reference") -> list[float]:
    """Submission times: Poisson, one every MEAN_GAP_S on average; `burst`: bursts of 20-60
    jobs within 10 s, with quiet between them (the same mean rate)."""
    rng = random.Random(f"arrivals-{seed}")
    moments: list[float] = []
    t = 0.0
    if shape != "burst":
        for _ in range(count):
            moments.append(round(t, 1))
            t += rng.expovariate(1 / MEAN_GAP_S)
        return moments
    while len(moments) < count:
        size = rng.randint(*BURST_JOBS)
        moments += sorted(round(t + rng.uniform(0, BURST_WINDOW_S), 1) for _ in range(size))
        t += rng.expovariate(1 / (MEAN_GAP_S * size))
    return sorted(moments[:count])


def _duration(kind: Kind, rng: random.Random) -> float:
    if kind.tail_p and rng.random() < kind.tail_p:  # (no draw otherwise: old seeds hold)
        duration = kind.tail_from_s * (1 - rng.random()) ** (-1 / kind.tail_alpha)
    else:
        duration = kind.median_s * math.exp(rng.gauss(0, kind.sigma))
    if rng.random() < kind.cold_start_p:
        duration += rng.uniform(*kind.cold_start_s)
    cap = DEADLINE_SHARE * REGISTRY[kind.provider].pacing.default_deadline_s
    return float(min(max(duration, kind.low_s), kind.high_s, cap))


def generate(
    seed: int, jobs: int, *, reference: bool = False, shape: str | None = None
) -> list[Job]:
    """`jobs` jobs drawn from the seed. Without a shape: the seed's profiles, no submission
    times (as before shapes existed: seeds 1 and 2 give the same jobs). With one: the shape's
    profiles and submission times."""
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"shape must be one of {sorted(SHAPES)}. Found: {shape!r}")
    rng = random.Random(seed)
    kinds = REFERENCE if reference else perturbed(REFERENCE, rng)
    before, after = SHAPES[shape or "reference"](kinds, random.Random(f"shape-{seed}"))
    out = []
    for index in range(jobs):
        phase = 1 if shape == "drift" and index >= jobs // 2 else 0
        profile = after if phase else before
        kind = rng.choices(profile, [k.share for k in profile])[0]
        duration = _duration(kind, rng)
        progress = rng.choices(PROGRESS_KINDS, kind.progress)[0]
        out.append(Job(kind.provider, round(duration, 1), progress, phase=phase))
    if shape is None:
        return out
    moments = arrivals(jobs, seed, shape=shape)
    return [replace(job, submitted_s=at) for job, at in zip(out, moments, strict=True)]


def load(path: Path) -> list[Job]:
    return list(parse(path.read_text().splitlines()))


def parse(lines: Iterable[str]) -> Iterator[Job]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            progress = str(raw.get("progress", "none"))
            submitted = raw.get("submitted_s")
            yield Job(
                str(raw["provider"]),
                float(raw["duration_s"]),
                progress,
                submitted_s=None if submitted is None else float(submitted),
                phase=int(raw.get("phase", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"workload line {number}: {exc}") from exc


def dump(jobs: Iterable[Job]) -> str:
    return "".join(json.dumps(job.to_json()) + "\n" for job in jobs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--shape", choices=sorted(SHAPES), help="bend the profiles (see SHAPES)")
    parser.add_argument("--reference", action="store_true", help="the profiles unperturbed")
    args = parser.parse_args(argv)
    sys.stdout.write(
        dump(generate(args.seed, args.jobs, reference=args.reference, shape=args.shape))
    )


if __name__ == "__main__":
    main()
