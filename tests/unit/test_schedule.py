"""Scheduling: the pure policy, the pacing overrides' parser and the planner's memory."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from jobcourier import planner as planner_module
from jobcourier import policy
from jobcourier.errors import ConfigurationError
from jobcourier.limits import MAX_DEADLINE
from jobcourier.pacing import Pacing, parse_overrides
from jobcourier.planner import CARRIED_SAMPLES, MEMORY_SAMPLES, Paced, Planner
from jobcourier.policy import Durations, History
from jobcourier.providers import REGISTRY
from jobcourier.validation import parse_task

PACING = Pacing(
    first_check_s=30,
    min_interval_s=15,
    max_interval_s=300,
    factor=2,
    jitter=0.0,
    default_deadline_s=7200,
    target_lag_s=50,
)
MID = lambda: 0.5  # noqa: E731 - half the jitter
# Ten recent jobs, done between 100 s and 200 s (each known to within 10 s), weighed alike.
RECENT = tuple((100.0 + 10 * i, 110.0 + 10 * i) for i in range(10))
KNOWN = Durations.of(RECENT, half_life=math.inf)
# Forty of them, between 100 s and 200 s: enough to back off past the slowest.
MANY = Durations.of(tuple((100.0 + 2.5 * i, 102.5 + 2.5 * i) for i in range(40)), math.inf)


def test_every_provider_pacing_is_valid_and_honours_its_documented_minimum():
    minimum = {"spacely": 1.0, "gepetto": 0.5, "sellerpic": 60.0, "fliki": 1.0}
    for name, provider in REGISTRY.items():
        assert provider.pacing.min_interval_s >= minimum[name]
        assert provider.pacing.default_deadline_s <= MAX_DEADLINE.total_seconds()
    assert REGISTRY["fliki"].pacing.factor > 1  # Fliki requires exponential backoff
    # Fliki deletes files 3 h after generation: the deadline and one interval fit well inside
    fliki = REGISTRY["fliki"].pacing
    assert fliki.default_deadline_s + fliki.max_interval_s < 3 * 3600


@pytest.mark.parametrize(
    ("t", "share"),
    [(0.0, 0.0), (100.0, 0.0), (105.0, 0.05), (150.0, 0.5), (195.0, 0.95), (200.0, 1.0)],
)
def test_durations_spread_evenly_over_their_intervals(t, share):
    assert KNOWN.share_done(t) == pytest.approx(share)
    if 0 < share < 1:
        assert KNOWN.quantile(share) == pytest.approx(t)
    assert KNOWN.slowest == 200.0 and KNOWN.samples == 10


def test_newer_durations_weigh_more():
    """Durations that changed: 16 jobs of about 10 s, then 16 of about 100 s. The newest
    sixteen weigh twice as much as the sixteen before them (MEMORY_HALF_LIFE)."""
    changed = ((0.0, 10.0),) * 16 + ((90.0, 100.0),) * 16
    assert Durations.of(changed, half_life=math.inf).share_done(50.0) == pytest.approx(0.5)
    weighed = Durations.of(changed)
    assert policy.MEMORY_HALF_LIFE == 16
    assert weighed.share_done(50.0) == pytest.approx(1 / 3, abs=0.02)


def test_a_job_seen_done_the_moment_it_was_last_seen_running_counts_at_once():
    point = Durations.of(((50.0, 50.0),) * 4, half_life=math.inf)
    assert point.share_done(49.9) == 0.0 and point.share_done(50.0) == 1.0
    assert point.quantile(0.5) == 50.0


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        (None, 30.0),  # nothing known: the configured first check
        (Durations.of(RECENT[:3]), 30.0),  # too few to trust
        # the fastest 1.5 % done by 101.5 s: the target lag after that
        (KNOWN, 151.5),
        # all done within 10 s of each other: when the slowest was, sooner than the target
        (Durations.of(((100.0, 105.0),) * 10, half_life=math.inf), 105.0),
    ],
)
def test_first_check_comes_from_recent_durations_once_known(durations, expected):
    assert policy.first_delay(PACING, durations=durations) == pytest.approx(expected)


def test_first_check_is_never_sooner_than_the_minimum_interval_and_jitter_only_brings_it_forward():
    quick = Durations.of(((0.0, 1.0),) * 10)
    assert policy.first_delay(PACING, durations=quick) == PACING.min_interval_s
    jittery = replace(PACING, jitter=0.1)
    got = [policy.first_delay(jittery, durations=KNOWN, rand=lambda r=r: r) for r in (0, 0.5, 1)]  # type: ignore[misc]
    assert got == pytest.approx([151.5, 151.5 * 0.95, 151.5 * 0.9])
    # when all recent jobs were done sooner than the target allows, the first check comes
    # then, not jittered: a few seconds sooner would only find the slowest still running
    done = Durations.of(((100.0, 105.0),) * 10, half_life=math.inf)
    assert policy.first_delay(jittery, durations=done, rand=lambda: 1.0) == pytest.approx(105.0)


def test_without_durations_the_first_check_is_no_later_than_the_target():
    assert policy.first_delay(PACING) == 30.0  # first_check_s
    assert policy.first_delay(replace(PACING, first_check_s=80)) == 50.0  # the target
    # ... nor sooner than the minimum interval allows
    assert policy.first_delay(replace(PACING, first_check_s=80, min_interval_s=60)) == 60.0


def test_jobs_seen_done_at_their_first_check_are_spread_as_the_jobs_just_after_it_suggest():
    """Twenty jobs seen done at a first check at 60 s and twenty more done in (60, 75]: twice
    as many by 75 s as by 60 s, as t**3 would give; taken at most as t**2 below 60 s (a
    density rising from zero), not evenly: the fastest 1 % finished after 8 s, not 1.2 s."""
    recent = ((0.0, 60.0),) * 20 + ((60.0, 75.0),) * 20
    weights = [1 / 40] * 40
    assert policy.first_power(recent, weights) == policy.FIRST_POWER_MAX == 2.0
    spread = Durations.of(recent, half_life=math.inf)
    assert spread.share_done(60.0) == pytest.approx(0.5)
    assert spread.share_done(30.0) == pytest.approx(0.5 * 0.5**2)
    assert spread.quantile(0.01) == pytest.approx(60 * 0.02**0.5, rel=0.1)
    # jobs just after the first check as many as at it: evenly (all that is known)
    level = ((0.0, 60.0),) * 20 + ((60.0, 180.0),) * 20
    assert policy.first_power(level, weights) == 1.0
    assert Durations.of(level, half_life=math.inf).quantile(0.01) == pytest.approx(1.2)
    # all done at their first check: nothing after it to go by
    assert policy.first_power(((0.0, 60.0),) * 4, [0.25] * 4) == 1.0


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ((), None),
        (((30.0, 0.0),), None),  # queued: no information
        (((30.0, 0.25),), (120.0, False)),  # a bound only: elapsed / fraction
        (((30.0, 0.0), (60.0, 0.25)), (150.0, False)),  # one rate from the queue: unconfirmed
        (((20.0, 0.0), (60.0, 0.2), (100.0, 0.4)), (220.0, True)),  # queued 20 s, then steady
        (((40.0, 0.13), (80.0, 0.37)), (185.0, True)),  # two fine-grained samples: steady
        (((60.0, 0.25), (100.0, 0.5)), (180.0, False)),  # two coarse ones: maybe steps
        (((60.0, 0.25), (100.0, 0.25), (140.0, 0.5)), (220.0, False)),  # steps: rates differ
        (((20.0, 0.1), (40.0, 0.5), (60.0, 0.6)), (80.0, False)),  # the bound 40/0.5 beats the rate
        (((60.0, 0.5), (90.0, 0.4)), (120.0, False)),  # backwards: a stall
    ],
)
def test_progress_predicts_completion(samples, expected):
    got = policy.progress_eta(samples) if samples else None
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0] == pytest.approx(expected[0]) and got[1] == expected[1]


@pytest.mark.parametrize(
    ("samples", "stalled"),
    [
        (((30.0, 0.1), (60.0, 0.2)), 0),
        (((30.0, 0.2), (60.0, 0.2)), 1),
        (((30.0, 0.2), (60.0, 0.2), (90.0, 0.2)), 2),
        (((30.0, 0.5), (60.0, 0.3)), 1),  # backwards
        (((30.0, 0.0), (60.0, 0.0)), 0),  # still queued: not a stall
    ],
)
def test_stalls_are_counted_from_the_newest_sample(samples, stalled):
    assert policy.stalled_checks(samples) == stalled


def test_confirmed_progress_schedules_the_next_check_just_after_the_predicted_completion():
    history = History(checks=3, elapsed_s=100.0, progress=((20.0, 0.0), (60.0, 0.2), (100.0, 0.4)))
    # predicted done at 220 s: 120 s from now, plus 0.5 % of 220 s
    assert policy.next_delay(PACING, history, rand=MID) == pytest.approx(121.1)
    # far off, it looks again halfway (at least max_interval_s on), to refine the prediction
    slow = History(checks=3, elapsed_s=100.0, progress=((20.0, 0.0), (60.0, 0.02), (100.0, 0.04)))
    assert policy.next_delay(PACING, slow, rand=MID) == pytest.approx((1920.0 + 10.1) / 2)


@pytest.mark.parametrize(
    "samples",
    [
        ((30.0, 0.05),),  # one sample: done by 600 s at the latest
        ((200.0, 0.5),),  # done by 400 s at the latest
        ((60.0, 0.25), (100.0, 0.5)),  # steps, perhaps
        ((50.0, 0.3), (60.0, 0.3), (70.0, 0.3)),  # a stall
    ],
)
def test_unconfirmed_progress_never_waits_longer_than_the_target(samples):
    history = History(checks=len(samples) + 1, elapsed_s=samples[-1][0], progress=samples)
    assert policy.next_delay(PACING, history, rand=MID) == PACING.target_lag_s
    assert policy.next_delay(PACING, history, rand=MID, durations=KNOWN) <= PACING.target_lag_s


def test_unconfirmed_progress_close_to_done_looks_when_it_says():
    history = History(checks=2, elapsed_s=100.0, progress=((100.0, 0.8),))  # by 125 s at most
    assert policy.next_delay(PACING, history, rand=MID) == pytest.approx(25.0 + 0.625)


# A job of 110 s whose progress moved from 10 s on (a queue of 1/11 of it), whole percents.
QUEUED = 1 / 11


@pytest.mark.parametrize(
    ("samples", "share"),
    [
        (((47.0, 0.37), (83.0, 0.73)), QUEUED),  # the line through them starts at 10 s
        (((20.0, 0.0), (47.0, 0.37), (83.0, 0.73)), QUEUED),  # the queued sample adds nothing
        (((40.0, 0.37), (80.0, 0.74)), 0.0),  # progress from submission on: no queue
        (((47.0, 0.37),), None),  # one sample: no line
        (((20.0, 0.0), (47.0, 0.37)), None),  # nor with a queued one
        (((60.0, 0.25), (100.0, 0.5)), None),  # steps, perhaps: no rate to read
    ],
)
def test_a_finished_job_tells_how_far_its_progress_ran_behind_the_clock(samples, share):
    got = policy.queued_share(samples)
    assert got == (None if share is None else pytest.approx(share))


@pytest.mark.parametrize(
    ("samples", "window"),
    [
        (((47.0, 0.37),), (47 * 11 / 4.8, 110.0)),  # whole percents: within 2.3 s
        (((60.0, 0.5),), (60 * 11 / 8.5, 110.0)),  # a quarter's step, perhaps: wider
        (((60.0, 0.5), (83.0, 0.73)), (83 * 11 / 8.4, 110.0)),  # every sample narrows it
        (((30.0, 0.0),), None),  # queued: nothing to read
        (((47.0, 0.37), (60.0, 0.37)), None),  # stalled: not progress read that way
    ],
)
def test_progress_read_as_recent_jobs_read_places_the_completion(samples, window):
    got = policy.completion_window(samples, QUEUED)
    if window is None:
        assert got is None
    else:
        assert got == pytest.approx(window)


def test_one_sample_read_as_recent_jobs_read_is_checked_when_it_allows_no_later_completion():
    one = History(checks=1, elapsed_s=47.0, progress=((47.0, 0.37),))
    # done by 110 s and not before 107.7 s: checked at 110 s (plus 0.5 %), not the target on
    assert policy.next_delay(PACING, one, rand=MID, queued=QUEUED) == pytest.approx(63.55)
    assert policy.next_delay(PACING, one, rand=MID) == PACING.target_lag_s  # unknown: as before
    # a quarter's step leaves 110-189 s: wider than the target, so the target decides
    coarse = History(checks=1, elapsed_s=60.0, progress=((60.0, 0.25),))
    assert policy.next_delay(PACING, coarse, rand=MID, queued=QUEUED) == PACING.target_lag_s


def test_the_planner_learns_how_far_progress_runs_behind_from_finished_jobs():
    planner, provider = Planner(remember=True), _Provider()
    samples = ((47.0, 0.37), (83.0, 0.73))
    for i in range(planner_module.QUEUED_MIN_SAMPLES):
        assert planner.queued_share("p") is None
        planner.finished(provider, f"j{i}", History(checks=3, elapsed_s=111.0, progress=samples))
    planner.finished(
        provider, "j", History(checks=3, elapsed_s=90.0, progress=((40.0, 0.37), (80.0, 0.74)))
    )
    assert planner.queued_share("p") == 0.0  # the least: a later check, never an early one
    one = History(checks=1, elapsed_s=47.0, progress=((47.0, 0.37),))
    assert planner.next_check_in(provider, "k", one, until_deadline_s=1e9) == pytest.approx(
        policy.next_delay(PACING, one, rand=MID, queued=0.0)
    )
    assert Planner().queued_share("p") is None  # nothing remembered without `remember`


@pytest.mark.parametrize(
    ("durations", "elapsed", "delay"),
    [
        (KNOWN, 120.0, 50.0),  # in the thick of it: the target lag
        (KNOWN, 30.0, 121.5),  # before any: the target after the fastest 1.5 % were done
        (KNOWN, 185.0, 15.0),  # all done by 200 s: then (here the minimum interval)
        (KNOWN, 199.0, 50.0),  # past 98 % of only ten jobs: backoff, capped at the target
        (MANY, 250.0, 52.0),  # past 98 % of forty (198 s): (factor - 1) x the time since
        (MANY, 400.0, 202.0),
        (MANY, 1000.0, 300.0),  # at most max_interval_s
    ],
)
def test_recent_durations_set_the_next_check_of_a_job_without_progress(durations, elapsed, delay):
    history = History(checks=2, elapsed_s=elapsed)
    got = policy.next_delay(PACING, history, rand=MID, durations=durations)
    assert got == pytest.approx(delay)


@pytest.mark.parametrize(
    ("kwargs", "delay"),
    [
        ({"retry_after_s": 400.0}, 400.0),  # Retry-After wins over any estimate
        ({"auth_fault": True}, policy.AUTH_FAULT_DELAY_S),
        ({"retry_after_s": 1e9}, policy.MAX_SCHEDULE_AHEAD_S),  # never past 30 days
    ],
)
def test_retry_after_and_key_faults_wait_longer_than_any_estimate(kwargs, delay):
    history = History(checks=2, elapsed_s=120.0)
    assert policy.next_delay(PACING, history, rand=MID, durations=KNOWN, **kwargs) == delay


@pytest.mark.parametrize(("checks", "delay"), [(1, 50.0), (0, 30.0), (5, 50.0)])
def test_without_information_backoff_grows_from_the_first_check_to_the_target(checks, delay):
    blind = replace(PACING, learn=False, use_progress=False, target_lag_s=50)
    history = History(checks=checks, elapsed_s=120.0, progress=((100.0, 0.2), (120.0, 0.4)))
    assert policy.next_delay(blind, history, rand=MID, durations=KNOWN) == delay
    # a target below the minimum interval: the minimum; above the maximum: the maximum
    assert policy.blind_cap(replace(blind, target_lag_s=5)) == PACING.min_interval_s
    assert policy.blind_cap(replace(blind, target_lag_s=900)) == PACING.max_interval_s
    jittered = replace(blind, jitter=0.1)
    assert policy.next_delay(jittered, history, rand=lambda: 1.0) == pytest.approx(delay * 0.9)


@pytest.mark.parametrize(
    ("delay", "until", "expected"),
    [(100.0, 1000.0, 100.0), (100.0, 40.0, 40.0), (100.0, 5.0, 15.0), (1.0, 1000.0, 50.0)],
)
def test_next_check_in_applies_the_deadline_then_the_minimum(delay, until, expected):
    first = History(checks=1, elapsed_s=10.0)  # backoff alone says 50 s; Retry-After more
    got = policy.next_check_in(
        replace(PACING, learn=False, use_progress=False),
        first,
        until_deadline_s=until,
        retry_after_s=delay,
        rand=MID,
    )
    assert got == expected


# -- JOBCOURIER_PACING -------------------------------------------------------------------------
def test_overrides_parse_and_apply():
    raw = json.dumps(
        {"fliki": {"first_check_s": 45, "max_interval_s": 600, "learn": False, "target_lag_s": 90}}
    )
    overrides = parse_overrides(raw, REGISTRY)
    assert overrides == {
        "fliki": {
            "first_check_s": 45.0,
            "max_interval_s": 600.0,
            "learn": False,
            "target_lag_s": 90,
        }
    }
    planner = Planner(REGISTRY, overrides)
    fliki = planner.pacing_for(REGISTRY["fliki"])
    assert (fliki.first_check_s, fliki.max_interval_s, fliki.learn) == (45.0, 600.0, False)
    assert fliki.target_lag_s == 90.0
    assert fliki.min_interval_s == REGISTRY["fliki"].pacing.min_interval_s
    assert planner.pacing_for(REGISTRY["spacely"]) == REGISTRY["spacely"].pacing
    assert parse_overrides("", REGISTRY) == {}
    assert parse_overrides("  ", REGISTRY) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{fliki", "must be JSON"),
        ("[1, 2]", "JSON object of providers"),
        ('{"flikr": {}}', "unknown provider 'flikr'"),
        ('{"fliki": 5}', "must map field names"),
        ('{"fliki": {"first_check": 5}}', "unknown field fliki.first_check"),
        ('{"fliki": {"first_check_s": -1}}', "first_check_s must be between 0 and 30 days"),
        ('{"fliki": {"min_interval_s": 0}}', "min_interval_s must be above 0"),
        ('{"fliki": {"factor": 0.5}}', "factor must be between 1 and 100"),
        ('{"fliki": {"jitter": 2}}', "jitter must be between 0 and 0.5"),
        ('{"fliki": {"first_quantile": 0.2}}', "first_quantile must be between 0.5 and 1"),
        ('{"fliki": {"target_lag_s": "60"}}', "target_lag_s must be a number"),
        ('{"fliki": {"target_lag_s": 0.5}}', "target_lag_s must be at least 1 and at most 30 days"),
        ('{"fliki": {"target_lag_s": 1e9}}', "target_lag_s must be at least 1 and at most 30 days"),
        ('{"fliki": {"max_lag_s": 60}}', "fliki.max_lag_s was replaced by target_lag_s"),
        ('{"fliki": {"learn": 1}}', "learn must be true or false"),
        ('{"fliki": {"jitter": NaN}}', "jitter must be a number"),
    ],
)
def test_bad_overrides_name_the_problem(raw, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_overrides(raw, REGISTRY)


def test_overrides_that_contradict_the_provider_pacing_fail_when_applied():
    overrides = parse_overrides('{"sellerpic": {"max_interval_s": 30}}', REGISTRY)
    with pytest.raises(ConfigurationError, match="max_interval_s .* must not be below"):
        Planner(REGISTRY, overrides)


# -- the in-process memory ---------------------------------------------------------------------
class _Provider:
    def __init__(self, name: str = "p", pacing: Pacing = PACING) -> None:
        self.name, self.pacing = name, pacing


def _finish(planner: Planner, provider: Paced, job: str, checks: list[float]) -> None:
    for n, t in enumerate(checks[:-1], 1):
        planner.next_check_in(provider, job, History(checks=n, elapsed_s=t), until_deadline_s=1e9)
    planner.finished(provider, job, History(checks=len(checks), elapsed_s=checks[-1]))


def test_memory_learns_each_finished_job_between_its_last_two_checks():
    planner, provider = Planner(remember=True), _Provider()
    _finish(planner, provider, "a", [60.0])
    _finish(planner, provider, "b", [30.0, 45.0, 75.0])
    assert planner.recent("p") == ((0.0, 60.0), (45.0, 75.0))
    # a second sighting (a duplicate delivery, a copy that goes on) teaches nothing new
    planner.finished(provider, "b", History(checks=4, elapsed_s=90.0))
    # a job whose previous check another instance made teaches nothing
    planner.finished(provider, "c", History(checks=3, elapsed_s=90.0))
    assert planner.recent("p") == ((0.0, 60.0), (45.0, 75.0))


def test_memory_is_bounded_and_moves_the_first_check():
    planner, provider = Planner(remember=True), _Provider()
    assert planner.first_delay(provider) == PACING.first_check_s
    for i in range(MEMORY_SAMPLES + 10):
        _finish(planner, provider, f"j{i}", [100.0 + i % 10, 200.0 + i % 10])
    assert len(planner.recent("p")) == MEMORY_SAMPLES
    assert planner.first_delay(provider) > 100.0


def test_without_remember_nothing_is_kept():
    planner, provider = Planner(), _Provider()
    _finish(planner, provider, "a", [60.0])
    assert planner.recent("p") == ()
    assert planner.first_delay(provider) == PACING.first_check_s


def test_a_task_carries_the_recent_durations_and_a_colder_instance_takes_them():
    warm, cold, provider = Planner(remember=True), Planner(remember=True), _Provider()
    for i in range(40):
        _finish(warm, provider, f"j{i}", [100.0 + i, 200.0 + i])
    carried = warm.carry("p")
    assert len(carried) == CARRIED_SAMPLES and carried == warm.recent("p")[-CARRIED_SAMPLES:]
    _finish(cold, provider, "mine", [50.0, 70.0])
    cold.adopt("p", carried)
    assert cold.recent("p") == (*carried, (50.0, 70.0))  # its own, newer, kept after
    assert cold.durations("p").samples == CARRIED_SAMPLES + 1  # type: ignore[union-attr]
    assert cold.first_delay(provider) > 100.0  # learned, not the configured 30 s
    before = warm.recent("p")
    warm.adopt("p", ((1.0, 2.0),) * 5)  # knows more than the task carries: keeps its own
    assert warm.recent("p") == before


def test_the_courier_face_carries_real_seconds_and_reads_them_back():
    from datetime import UTC, datetime, timedelta

    from jobcourier.model import JobKey, PollTask

    provider = REGISTRY["spacely"]
    warm = Planner(REGISTRY, remember=True, scale=0.5)
    for i in range(8):
        _finish(warm, provider, f"j{i}", [20.0, 40.0 + i])  # provider seconds
    carried = warm.carried(provider)
    assert carried[0] == (10.0, 20.0)  # real seconds: half the provider's
    now = datetime(2026, 1, 1, tzinfo=UTC)
    task = PollTask(
        key=JobKey("spacely", "x"),
        submitted_at=now - timedelta(seconds=10),
        deadline_at=now + timedelta(hours=1),
        checks=1,
        recent=(*carried, (float("nan"), 1.0), (5.0, 4.0)),  # nonsense is left out
    )
    assert parse_task(replace(task, recent=carried).to_json()).recent == carried
    cold = Planner(REGISTRY, remember=True, scale=0.5)
    cold.next_check_at(provider, task, now, limit=now + timedelta(hours=1))
    assert cold.recent("spacely")[: len(carried)] == warm.recent("spacely")
    assert "recent" not in replace(task, recent=()).to_json()  # old bodies: nothing new
    # a job seen done reads its task's progress (real seconds, scaled back) for the share of
    # it that passed before progress moved: the same at any scale
    moved = replace(task, checks=3, progress=((23.5, 0.37), (41.5, 0.73)))
    for i in range(planner_module.QUEUED_MIN_SAMPLES):
        cold.saw_done(provider, replace(moved, key=JobKey("spacely", f"q{i}")), now)
    assert cold.queued_share("spacely") == pytest.approx(QUEUED)


def test_config_reads_jobcourier_pacing_and_names_it_in_errors():
    from jobcourier.config import ENVIRONMENT_VARIABLES, PACING, Config

    env = {
        "JOBCOURIER_BUCKET": "b",
        "JOBCOURIER_QUEUE": "projects/p/locations/l/queues/q",
        "JOBCOURIER_SELF_URL": "https://f.example",
    }
    assert PACING == "JOBCOURIER_PACING" and PACING in ENVIRONMENT_VARIABLES
    assert Config.from_env(env).pacing_overrides == {}
    config = Config.from_env({**env, PACING: '{"fliki": {"first_check_s": 45}}'})
    assert config.pacing_overrides == {"fliki": {"first_check_s": 45.0}}
    with pytest.raises(ConfigurationError, match="JOBCOURIER_PACING: unknown provider"):
        Config.from_env({**env, PACING: '{"midjourney": {}}'})


def test_the_courier_uses_the_planner_it_is_given():
    from jobcourier.courier import Courier
    from jobcourier.model import JobKey
    from jobcourier.validation import Submission
    from tests.fakes import ScriptedApi, World

    w = World(api=ScriptedApi([]))
    overrides = parse_overrides('{"spacely": {"first_check_s": 42}}', REGISTRY)
    courier: Courier = w.courier(planner=Planner(REGISTRY, overrides))
    courier.submit(Submission(JobKey("spacely", "j-1")))
    [first] = w.scheduler.tasks
    assert (first.at - w.clock.now).total_seconds() == 42


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_backoff_stays_at_its_cap_however_many_checks_a_job_had(name):
    """A job checked every minute for a month makes 43,200 checks: factor ** checks overflows
    a float after about 1,800 of them (an OverflowError on every attempt, until the queue gave
    up), so the backoff must hold at its cap instead."""
    pacing = replace(REGISTRY[name].pacing, learn=False, use_progress=False)
    cap = policy.blind_cap(pacing) * (1 - pacing.jitter * 0.5)
    for checks in (1_799, 1_800, 10_000):
        history = History(checks=checks, elapsed_s=60.0 * checks)
        assert policy.backoff(pacing, checks, MID) == pytest.approx(cap)
        got = policy.next_check_in(pacing, history, until_deadline_s=1e9, rand=MID)
        assert got == pytest.approx(max(cap, pacing.min_interval_s))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_job_checked_ten_thousand_times_is_rescheduled_not_crashed(name):
    from jobcourier.model import JobKey
    from jobcourier.validation import Submission
    from tests.fakes import ScriptedApi, World, json_answer

    running = {
        "spacely": {"data": {"status": "processing"}},
        "gepetto": {"status": "pending"},
        "sellerpic": {"code": 0, "data": {"resultList": [{"id": 1, "status": "RUNNING"}]}},
        "fliki": {"status": "processing"},
    }[name]
    w = World(api=ScriptedApi([json_answer(running)]))
    job_id = "1234" if name == "sellerpic" else "job-1"
    w.courier().submit(Submission(JobKey(name, job_id), deadline_seconds=20 * 24 * 3600))
    task = replace(w.scheduler.pop().task, checks=10_000, seq=10_000)
    w.clock.advance(7 * 24 * 3600)
    answer = w.courier().poll(task)
    assert answer.body["outcome"] == "rescheduled"
    [following] = w.scheduler.tasks
    ahead = (following.at - w.clock.now).total_seconds()
    assert (
        REGISTRY[name].pacing.min_interval_s <= ahead <= REGISTRY[name].pacing.max_interval_s * 1.1
    )
