"""The generated workloads: each shape really has the property it is named for."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from bench import workload
from bench.workload import PROVIDERS, SHAPES, Job
from jobcourier.providers import REGISTRY

SEEDS = (1, 2, 3)
JOBS = 400


def durations(jobs: list[Job], provider: str, phase: int | None = None) -> list[float]:
    return [
        j.duration_s for j in jobs if j.provider == provider and (phase is None or j.phase == phase)
    ]


def median_by_provider(jobs: list[Job]) -> dict[str, float]:
    return {p: statistics.median(durations(jobs, p)) for p in PROVIDERS}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_is_reproducible_valid_and_within_the_deadlines(shape):
    jobs = workload.generate(7, JOBS, shape=shape)
    assert jobs == workload.generate(7, JOBS, shape=shape)
    assert jobs != workload.generate(8, JOBS, shape=shape)
    assert {j.provider for j in jobs} == set(PROVIDERS)
    times = [j.submitted_s for j in jobs]
    assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]
    for job in jobs:
        cap = workload.DEADLINE_SHARE * REGISTRY[job.provider].pacing.default_deadline_s
        assert 0 < job.duration_s <= cap
    assert list(workload.parse(workload.dump(jobs).splitlines())) == jobs


def test_without_a_shape_old_seeds_give_the_jobs_they_always_gave():
    """Seeds 1 and 2 were fixed before the policy was tuned; their jobs must not move."""
    jobs = workload.generate(1, 3)
    assert [(j.provider, j.duration_s, j.progress) for j in jobs] == [
        (j.provider, j.duration_s, j.progress) for j in workload.generate(1, 3, shape=None)
    ]
    assert all(j.submitted_s is None for j in jobs)
    reference = workload.load(
        Path(__file__).resolve().parents[2] / "bench/workloads/reference.jsonl"
    )
    assert workload.generate(2026, 400, reference=True) == reference


@pytest.mark.parametrize("seed", SEEDS)
def test_short_and_long_move_every_provider_by_their_factor(seed):
    base = median_by_provider(workload.generate(seed, JOBS, shape="reference"))
    short = median_by_provider(workload.generate(seed, JOBS, shape="short"))
    long = median_by_provider(workload.generate(seed, JOBS, shape="long"))
    for p in PROVIDERS:
        assert 0.2 < short[p] / base[p] < 0.45
        assert 3.5 < long[p] / base[p] < 6.5


@pytest.mark.parametrize("seed", SEEDS)
def test_shifted_moves_each_provider_by_its_own_factor_between_x03_and_x5(seed):
    base = median_by_provider(workload.generate(seed, JOBS, shape="reference"))
    moved = median_by_provider(workload.generate(seed, JOBS, shape="shifted"))
    ratios = [moved[p] / base[p] for p in PROVIDERS]
    assert all(0.2 < r < 6.5 for r in ratios)
    assert max(ratios) / min(ratios) > 1.5  # not one factor for all


def _modes(values: list[float], bins: int = 24) -> int:
    """Peaks of the histogram of log durations, each at least a fifth of the highest and
    separated from the next by a valley below 60 % of the lower of the two."""
    logs = [math.log(v) for v in values]
    low, high = min(logs), max(logs)
    counts = [0] * bins
    for x in logs:
        counts[min(int((x - low) / (high - low) * bins), bins - 1)] += 1
    smooth = [sum(counts[max(i - 1, 0) : i + 2]) / 3 for i in range(bins)]
    peaks: list[int] = []
    for i, c in enumerate(smooth):
        if c < 0.2 * max(smooth):
            continue
        if all(c >= smooth[j] for j in (i - 1, i + 1) if 0 <= j < bins):
            if peaks and min(smooth[peaks[-1] : i + 1]) >= 0.6 * min(smooth[peaks[-1]], c):
                if c > smooth[peaks[-1]]:
                    peaks[-1] = i
                continue
            peaks.append(i)
    return len(peaks)


@pytest.mark.parametrize("seed", SEEDS)
def test_bimodal_has_two_modes_where_the_reference_has_one(seed):
    bimodal = workload.generate(seed, 4000, shape="bimodal")
    plain = workload.generate(seed, 4000, shape="reference")
    for provider in ("spacely", "fliki"):  # one kind each, no cold starts in the reference
        assert _modes(durations(plain, provider)) == 1
        assert _modes(durations(bimodal, provider)) == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_heavy_has_a_far_longer_tail_than_the_reference(seed):
    heavy = workload.generate(seed, 4000, shape="heavy")
    plain = workload.generate(seed, 4000, shape="reference")

    def tail(d: list[float]) -> float:  # how far the slowest 0.5 % lie past the slowest 10 %
        d = sorted(d)
        return d[int(0.995 * len(d))] / d[int(0.9 * len(d))]

    for provider in PROVIDERS:
        assert tail(durations(heavy, provider)) > 2 * tail(durations(plain, provider))


@pytest.mark.parametrize("seed", SEEDS)
def test_drift_changes_every_provider_halfway_and_only_then(seed):
    jobs = workload.generate(seed, 2000, shape="drift")
    assert [j.phase for j in jobs] == [0] * 1000 + [1] * 1000
    for provider in PROVIDERS:
        before = statistics.median(durations(jobs, provider, 0))
        after = statistics.median(durations(jobs, provider, 1))
        assert not 0.6 < after / before < 1.6
        first, second = durations(jobs[:500], provider), durations(jobs[500:1000], provider)
        assert 0.7 < statistics.median(first) / statistics.median(second) < 1.4


@pytest.mark.parametrize("seed", SEEDS)
def test_burst_arrives_in_bursts_at_the_same_mean_rate(seed):
    times = [j.submitted_s or 0.0 for j in workload.generate(seed, JOBS, shape="burst")]
    steady = [j.submitted_s or 0.0 for j in workload.generate(seed, JOBS, shape="reference")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    steady_gaps = [b - a for a, b in zip(steady, steady[1:], strict=False)]
    cv = statistics.pstdev(gaps) / statistics.mean(gaps)
    assert cv > 3 * statistics.pstdev(steady_gaps) / statistics.mean(steady_gaps)
    assert sum(g < 1.0 for g in gaps) > 0.8 * len(gaps)  # most arrive within a second
    assert 0.4 < times[-1] / steady[-1] < 2.5


def test_an_unknown_shape_is_named():
    with pytest.raises(ValueError, match="shape must be one of"):
        workload.generate(1, 10, shape="lumpy")
