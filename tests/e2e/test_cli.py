"""The installed `jobcourier` command against the real function under functions-framework, with
the Cloud Tasks emulator dispatching its checks, the GCS emulator and a fake Spacely
(devstack.stack.Stack). Loopback URL: no ID token is sent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack

SCRIPT = Path(sys.executable).with_name("jobcourier")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(delay_scale=0.02) as running:
        yield running


def jobcourier(
    *argv: str, url: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JOBCOURIER_URL"}
    if url is not None:
        env["JOBCOURIER_URL"] = url
    return subprocess.run(
        [str(SCRIPT), *argv], capture_output=True, text=True, timeout=timeout, env=env
    )


def new_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_submit_wait_prints_the_changes_and_exits_0(stack: Stack):
    job = new_id("cli-ok")
    served = stack.spacely.add_job(job, pending_checks=3, files=3)

    done = jobcourier(
        "--url", stack.url, "submit", "spacely", job, "--label", "order=A-17", "--wait"
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pending, settled = done.stdout.splitlines()
    assert re.fullmatch(r"pending \(deadline \d{4}-\d\d-\d\dT[\d:.]+Z\)", pending)
    size = sum(len(b) for b in served) / 1024
    assert settled == f"succeeded (3 files, {size:.1f} KiB)"
    manifest = stack.job("spacely", job).json()["manifest"]
    assert manifest["state"] == "succeeded" and manifest["labels"] == {"order": "A-17"}


def test_a_failing_job_exits_1_and_says_why(stack: Stack):
    job = new_id("cli-fail")
    stack.spacely.add_job(job, pending_checks=1, final_status="failed")
    done = jobcourier("submit", "spacely", job, "--wait", url=stack.url)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "failed (no files; provider_failed: the provider reported 'failed')"
    )
    assert jobcourier("status", "spacely", job, url=stack.url).returncode == 1
    assert jobcourier("wait", "spacely", job, url=stack.url).returncode == 1


def test_status_json_is_the_functions_answer(stack: Stack):
    job = new_id("cli-json")
    stack.spacely.add_job(job, pending_checks=0, files=1)
    assert stack.submit("spacely", job).status_code == 202
    stack.wait_settled("spacely", job)

    done = jobcourier("--url", stack.url, "--json", "status", "spacely", job)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == stack.job("spacely", job).json()
    after = jobcourier("status", "spacely", job, "--json", "--url", stack.url)
    assert json.loads(after.stdout) == json.loads(done.stdout)

    human = jobcourier("--url", stack.url, "status", "spacely", job)
    assert human.returncode == 0 and "state         succeeded" in human.stdout
    assert f"gs://jobcourier-results/spacely/{job}/00.png" in human.stdout


def test_status_of_an_unknown_job_exits_2(stack: Stack):
    done = jobcourier("--url", stack.url, "status", "spacely", "never-submitted")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "jobcourier: error: no job 'never-submitted' was submitted for spacely\n"


def test_a_refused_submission_exits_2_with_the_functions_message(stack: Stack):
    done = jobcourier("submit", "spacely", "../escape", url=stack.url)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("jobcourier: error: job_id must not contain '/'")


def test_wait_gives_up_at_its_timeout_with_exit_2(stack: Stack):
    job = new_id("cli-slow")
    stack.spacely.add_job(job, pending_checks=10_000)
    assert jobcourier("submit", "spacely", job, "--deadline", "600", url=stack.url).returncode == 0
    done = jobcourier("wait", "spacely", job, "--timeout", "1.5", url=stack.url)
    assert done.returncode == 2
    assert done.stdout.startswith("pending (deadline ")
    assert done.stderr == (
        f"jobcourier: error: gave up waiting for spacely/{job} after 1.5 s; it is still pending\n"
    )


# -- the operating routes: the function does not serve these yet -------------------------------
def test_list_shows_a_job_in_flight(stack: Stack):
    job = new_id("cli-list")
    stack.spacely.add_job(job, pending_checks=10_000)
    assert jobcourier("submit", "spacely", job, url=stack.url).returncode == 0
    done = jobcourier("--json", "list", "--provider", "spacely", url=stack.url)
    assert done.returncode == 0, done.stderr
    [entry] = [j for j in json.loads(done.stdout)["jobs"] if j["job_id"] == job]
    assert entry["state"] == "pending" and entry["provider"] == "spacely"
    human = jobcourier("list", url=stack.url)
    assert human.returncode == 0 and job in human.stdout


def test_cancel_settles_a_job_as_canceled(stack: Stack):
    job = new_id("cli-cancel")
    stack.spacely.add_job(job, pending_checks=10_000)
    assert jobcourier("submit", "spacely", job, url=stack.url).returncode == 0
    done = jobcourier("cancel", "spacely", job, "--reason", "wrong prompt", url=stack.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "canceled (no files; canceled: wrong prompt)\n"
    assert jobcourier("status", "spacely", job, url=stack.url).returncode == 1
    assert jobcourier("cancel", "spacely", job, url=stack.url).returncode == 0  # same 200 again


def test_cancel_of_a_succeeded_job_is_refused(stack: Stack):
    job = new_id("cli-cancel-done")
    stack.spacely.add_job(job, pending_checks=0, files=1)
    assert jobcourier("submit", "spacely", job, "--wait", url=stack.url).returncode == 0
    done = jobcourier("--json", "cancel", "spacely", job, url=stack.url)
    assert done.returncode == 2 and json.loads(done.stdout).get("state") == "succeeded"


def test_replay_runs_a_failed_job_again(stack: Stack):
    job = new_id("cli-replay")
    stack.spacely.add_job(job, pending_checks=0, final_status="failed")
    assert jobcourier("submit", "spacely", job, "--wait", url=stack.url).returncode == 1
    stack.spacely.add_job(job, pending_checks=1, files=1)  # this time the provider succeeds
    done = jobcourier("--json", "replay", "spacely", job, url=stack.url)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["state"] == "pending" and answer["replayed"] is True
    assert jobcourier("wait", "spacely", job, url=stack.url).returncode == 0
    refused = jobcourier("replay", "spacely", job, url=stack.url)
    assert refused.returncode == 2  # a succeeded job is not replayed


def test_submit_takes_a_callback_url(stack: Stack):
    job = new_id("cli-callback")
    stack.spacely.add_job(job, pending_checks=0, files=1)
    callback = stack.receiver.url_for(job)  # loopback http: allowed in the stack
    done = jobcourier("submit", "spacely", job, "--callback-url", callback, "--wait", url=stack.url)
    assert done.returncode == 0, done.stderr
    [delivery] = stack.receiver.wait_for(job)
    assert delivery.verified and delivery.body["data"]["state"] == "succeeded"
