"""Provider 5xx and 429 storms: every provider answers a run of errors before the real
answers (and SellerPic its "too many concurrent tasks" body code, and one result link a run
of errors too). Every job still ends succeeded, on one chain; after a 429 the next check waits
at least its Retry-After (scaled, like every delay), read from the gaps between the status
calls the fakes received; no two checks of a job come closer than the provider allows."""

from __future__ import annotations

from devstack.stack import Stack
from jobcourier.providers import REGISTRY
from tests.faults.conftest import (
    SCALE,
    Job,
    assert_settled_cleanly,
    fliki_job,
    gepetto_job,
    sellerpic_job,
    spacely_file,
    spacely_job,
    status_calls,
    submit,
)

Script = list[tuple[int, dict[str, str]]]


def too_many(seconds: int) -> tuple[int, dict[str, str]]:
    return 429, {"Retry-After": str(seconds)}


def errors(*statuses: int) -> Script:
    return [(status, {}) for status in statuses]


def test_every_job_outlasts_a_storm_of_errors_and_honours_retry_after(stack: Stack):
    storm = [*errors(500, 502, 503, 504), too_many(100), *errors(500, 503)]
    storm += [too_many(100), *errors(502, 503)]
    scripts: dict[str, Script] = {}
    spacely_storm = spacely_job(stack, pending_checks=1, files=2, errors=list(storm))
    scripts[spacely_storm.job_id] = storm
    throttled = [too_many(100)] * 3
    spacely_link = spacely_job(stack, pending_checks=0, files=1, errors=list(throttled))
    scripts[spacely_link.job_id] = throttled
    spacely_file(stack, spacely_link, 0).failures = [503, 502, 500, 429]
    gepetto_storm = [*errors(503, 503, 503), too_many(150), *errors(500, 500)]
    gepetto = gepetto_job(stack, pending_checks=1, errors=list(gepetto_storm))
    scripts[gepetto.job_id] = gepetto_storm
    sellerpic_storm = [*errors(503), too_many(120), *errors(502)]
    sellerpic = sellerpic_job(
        stack,
        ["SUCCESS", "SUCCESS"],
        pending_checks=1,
        errors=list(sellerpic_storm),
        codes=[30003, 30003],
    )
    scripts[sellerpic.job_id] = sellerpic_storm
    fliki_storm = [*errors(503), too_many(200), *errors(500)]
    fliki = fliki_job(stack, pending_checks=1, size=1024 * 1024, errors=list(fliki_storm))
    scripts[fliki.job_id] = fliki_storm
    jobs = [spacely_storm, spacely_link, gepetto, sellerpic, fliki]
    for job in jobs:
        submit(stack, job)

    assert_settled_cleanly(stack, jobs, timeout_s=120)

    answers = {  # status answers beyond the scripted errors: pending ones, then done
        spacely_storm.job_id: 2,
        spacely_link.job_id: 1 + 4,  # and one more check after each failed fetch of the link
        gepetto.job_id: 2,
        sellerpic.job_id: 2 + 2,  # and the two body codes
        fliki.job_id: 2,
    }
    for job in jobs:
        calls = status_calls(stack, job)
        script = scripts[job.job_id]
        assert len(calls) == len(script) + answers[job.job_id], job.folder  # one chain
        _assert_paced(job, [c.at for c in calls], script)
    assert stack.spacely.file_gets.count(_link_name(spacely_link)) == 5


def _assert_paced(job: Job, times: list[float], script: Script) -> None:
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    least = REGISTRY[job.provider].pacing.min_interval_s * SCALE
    assert min(gaps) >= least * 0.9, (job.folder, gaps)
    for index, (status, headers) in enumerate(script):
        if status == 429:
            wait = float(headers["Retry-After"]) * SCALE
            assert gaps[index] >= wait * 0.98, (job.folder, index, gaps[index], wait)


def _link_name(job: Job) -> str:
    return f"spacely-enterprise/{job.job_id}/1.png"
