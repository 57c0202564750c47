"""Scheduling: the pure policy, the pacing overrides' parser and the planner's memory."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from jobcourier import policy
from jobcourier.errors import ConfigurationError
from jobcourier.limits import MAX_DEADLINE
from jobcourier.pacing import Pacing, parse_overrides
from jobcourier.planner import MEMORY_SAMPLES, Planner
from jobcourier.policy import History
from jobcourier.providers import REGISTRY

PACING = Pacing(
    first_check_s=30,
    min_interval_s=15,
    max_interval_s=300,
    factor=2,
    jitter=0.0,
    default_deadline_s=7200,
)
MID = lambda: 0.5  # noqa: E731 - no jitter
# Ten recent jobs, done between 100 s and 200 s (each known to within 10 s).
RECENT = tuple((100.0 + 10 * i, 110.0 + 10 * i) for i in range(10))


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
    ("recent", "expected"),
    [
        ((), 30.0),  # nothing known: the configured first check
        (RECENT[:3], 30.0),  # too few to trust
        # 90 % were done by 190 s, but the earliest 5 % by 105 s: at most max_lag_s after that
        (RECENT, 155.0),
        (tuple((lo + 1000, hi + 1000) for lo, hi in RECENT[:1]) + RECENT[1:], 155.0 + 10),
    ],
)
def test_first_check_comes_from_recent_durations_once_known(recent, expected):
    assert policy.first_delay(PACING, recent=recent) == pytest.approx(expected)


def test_first_check_is_never_sooner_than_the_minimum_interval():
    quick = tuple((0.0, 1.0) for _ in range(10))
    assert policy.first_delay(PACING, recent=quick) == PACING.min_interval_s


@pytest.mark.parametrize(
    ("t", "share"),
    [(0.0, 0.0), (100.0, 0.0), (105.0, 0.05), (150.0, 0.5), (195.0, 0.95), (200.0, 1.0)],
)
def test_durations_spread_evenly_over_their_intervals(t, share):
    assert policy.share_done(RECENT, t) == pytest.approx(share)
    if 0 < share < 1:
        assert policy.duration_quantile(RECENT, share) == pytest.approx(t)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ((), None),
        (((30.0, 0.0),), None),  # queued: no information
        (((30.0, 0.25),), (120.0, False)),  # a bound only: elapsed / fraction
        (((30.0, 0.0), (60.0, 0.25)), (150.0, False)),  # one rate, not yet confirmed
        (((20.0, 0.0), (60.0, 0.2), (100.0, 0.4)), (220.0, True)),  # queued 20 s, then steady
        (((60.0, 0.25), (100.0, 0.25), (140.0, 0.5)), (220.0, False)),  # steps: rates differ
        (((20.0, 0.1), (40.0, 0.5), (60.0, 0.6)), (80.0, False)),  # the bound 40/0.5 beats the rate
        (((60.0, 0.5), (90.0, 0.4)), (120.0, False)),  # backwards: next_delay sees a stall
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


def test_steady_progress_schedules_the_next_check_just_after_the_predicted_completion():
    history = History(checks=3, elapsed_s=100.0, progress=((20.0, 0.0), (60.0, 0.2), (100.0, 0.4)))
    # predicted done at 220 s: 120 s from now, plus 2 % of 220 s
    assert policy.next_delay(PACING, history, rand=MID) == pytest.approx(124.4)


def test_an_unconfirmed_prediction_looks_halfway_and_never_more_than_doubles_the_time():
    history = History(checks=2, elapsed_s=30.0, progress=((30.0, 0.05),))  # bound: 600 s
    assert policy.next_delay(PACING, history, rand=MID) == pytest.approx(50.0)  # max(30, lag)
    later = History(checks=2, elapsed_s=200.0, progress=((200.0, 0.5),))  # bound: 400 s
    assert policy.next_delay(PACING, later, rand=MID) == pytest.approx(104.0)  # (200 + 8) / 2


@pytest.mark.parametrize(("stalls", "delay"), [(1, 15.0), (2, 30.0), (3, 60.0)])
def test_stalled_progress_backs_off_from_the_stall(stalls, delay):
    samples = ((50.0, 0.3),) + tuple((60.0 + 10 * i, 0.3) for i in range(stalls))
    history = History(checks=9, elapsed_s=samples[-1][0], progress=samples)
    assert policy.next_delay(PACING, history, rand=MID) == pytest.approx(delay)


@pytest.mark.parametrize(
    ("elapsed", "delay"),
    [
        (120.0, 40.0),  # 20 % done: half the rest done by 160 s
        (100.0, 50.0),  # half of the rest by 150 s: 50 s, exactly the lag cap
        (30.0, 50.0),  # far before any: capped by max_lag_s
        (185.0, 15.0),  # nearly all done: the minimum interval
        (250.0, 50.0),  # past every recent job: max(lag, (factor - 1) x 50 s)
        (400.0, 200.0),  # (factor - 1) x 200 s since the slowest (done by 200 s)
        (1000.0, 300.0),  # capped
    ],
)
def test_recent_durations_set_the_next_check_of_a_job_without_progress(elapsed, delay):
    history = History(checks=2, elapsed_s=elapsed)
    got = policy.next_delay(PACING, history, rand=MID, recent=RECENT)
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
    assert policy.next_delay(PACING, history, rand=MID, recent=RECENT, **kwargs) == delay


def test_without_information_the_backoff_is_unchanged():
    no_memory = replace(PACING, learn=False, use_progress=False)
    history = History(checks=3, elapsed_s=120.0, progress=((100.0, 0.2), (120.0, 0.4)))
    assert policy.next_delay(no_memory, history, rand=MID, recent=RECENT) == 60.0


@pytest.mark.parametrize(
    ("delay", "until", "expected"),
    [(100.0, 1000.0, 100.0), (100.0, 40.0, 40.0), (100.0, 5.0, 15.0), (1.0, 1000.0, 15.0)],
)
def test_next_check_in_applies_the_deadline_then_the_minimum(delay, until, expected):
    first = History(checks=1, elapsed_s=10.0)  # backoff alone says 15 s; Retry-After more
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
    raw = json.dumps({"fliki": {"first_check_s": 45, "max_interval_s": 600, "learn": False}})
    overrides = parse_overrides(raw, REGISTRY)
    assert overrides == {"fliki": {"first_check_s": 45.0, "max_interval_s": 600.0, "learn": False}}
    planner = Planner(REGISTRY, overrides)
    fliki = planner.pacing_for(REGISTRY["fliki"])
    assert (fliki.first_check_s, fliki.max_interval_s, fliki.learn) == (45.0, 600.0, False)
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
        ('{"fliki": {"first_quantile": 1}}', "first_quantile must be between 0.01 and 0.99"),
        ('{"fliki": {"max_lag_s": "60"}}', "max_lag_s must be a number"),
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


def _finish(planner: Planner, provider: _Provider, job: str, checks: list[float]) -> None:
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
    for checks in (1_799, 1_800, 10_000):
        history = History(checks=checks, elapsed_s=60.0 * checks)
        assert policy.backoff(pacing, checks, MID) == pacing.max_interval_s
        got = policy.next_check_in(pacing, history, until_deadline_s=1e9, rand=MID)
        assert got == pacing.max_interval_s


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
