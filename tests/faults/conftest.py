"""The fault suite's shared pieces: a stack per module, jobs scripted on the four fake
providers, and the checks every job must pass whatever the fault (`assert_settled_cleanly`):

- exactly one manifest, in the expected state (and error code), whose generation never
  changes once it has been seen (create-only);
- every file the manifest lists is in the folder with the manifest's size and crc32c, and
  those are the size and crc32c of the bytes the fake provider serves: nothing truncated;
- the folder holds those files and `manifest.json`, nothing else, and no object in it is
  rewritten after the job settled;
- the job's `_jobcourier/pending/` entry is gone;
- `job_settled` was logged exactly once, with that state;
- nothing checks the job after it settled (one chain, stopped).
"""

from __future__ import annotations

import base64
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import google_crc32c
import pytest
from google.cloud import storage

from devstack.fakes.server import Call, ServedFile
from devstack.stack import BUCKET, Stack

SCALE = 0.02  # JOBCOURIER_DELAY_SCALE: a provider minute is 1.2 s here
RESULT_NAME = re.compile(r"\d\d\.[a-z0-9]+")
QUIET_S = 1.5  # after the last job settled: longer than any check interval of a settled job

Content = bytes | ServedFile


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """One stack per test module. A module may set PERSISTENT_GCS = True (to restart GCS) and
    DELAY_SCALE (to shorten what it waits for)."""
    persistent = bool(getattr(request.module, "PERSISTENT_GCS", False))
    scale = float(getattr(request.module, "DELAY_SCALE", SCALE))
    with Stack(delay_scale=scale, persistent_gcs=persistent) as running:
        yield running


@dataclass
class Job:
    provider: str
    job_id: str
    state: str = "succeeded"
    error_code: str | None = None
    # What each stored file must hold, by name ("00.png"); a job that does not succeed may
    # store fewer of them.
    contents: dict[str, Content] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    # The folder's objects and their generations when the manifest was first seen.
    generations: dict[str, int] = field(default_factory=dict)
    # Status calls the provider had received for this job when it was seen settled.
    calls_at_settle: int = 0

    @property
    def folder(self) -> str:
        return f"{self.provider}/{self.job_id}"


_serial = itertools.count()


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}-{uuid.uuid4().hex[:8]}"


def spacely_job(stack: Stack, prefix: str = "s", **script: Any) -> Job:
    """A Spacely job (add_job's arguments: pending_checks, final_status, files, errors)."""
    job_id = new_id(prefix)
    blobs = stack.spacely.add_job(job_id, **script)
    return Job("spacely", job_id, contents={f"{n:02d}.png": b for n, b in enumerate(blobs)})


def spacely_file(stack: Stack, job: Job, index: int) -> ServedFile:
    return stack.spacely.files[f"spacely-enterprise/{job.job_id}/{index + 1}.png"]


def gepetto_job(stack: Stack, prefix: str = "g", **script: Any) -> Job:
    job_id = new_id(prefix)
    data = stack.gepetto.add_job(job_id, **script)
    return Job("gepetto", job_id, contents={"00.png": data})


def gepetto_file(stack: Stack, job: Job) -> ServedFile:
    return stack.gepetto.files[f"gepetto/{job.job_id}.png"]


def sellerpic_job(stack: Stack, outcomes: list[str], **script: Any) -> Job:
    job_id = str(uuid.uuid4().int % 10**15)
    data = stack.sellerpic.add_job(job_id, outcomes=outcomes, **script)
    stored = {f"{n:02d}.png": d for n, (d, o) in enumerate(zip(data, outcomes, strict=True))}
    contents: dict[str, Content] = {
        name: d for name, d in stored.items() if outcomes[int(name[:2])] == "SUCCESS"
    }
    done = set(outcomes)
    state = "succeeded" if done == {"SUCCESS"} else "failed" if done == {"FAILED"} else "partial"
    code = {"succeeded": None, "partial": "some_outputs_failed", "failed": "provider_failed"}
    return Job("sellerpic", job_id, state, code[state], contents)


def fliki_job(stack: Stack, prefix: str = "f", **script: Any) -> Job:
    job_id = new_id(prefix)
    served = stack.fliki.add_job(job_id, **script)
    return Job("fliki", job_id, contents={"00.mp4": served})


def fliki_file(stack: Stack, job: Job) -> ServedFile:
    return stack.fliki.files[f"fliki/{job.job_id}.mp4"]


def status_calls(stack: Stack, job: Job) -> list[Call]:
    """The status calls the job's provider received for it, errors included, in order."""
    if job.provider == "spacely":
        found = stack.spacely.status_calls("/api/v1/generate/poll-result")
        return [c for c in found if c.args.get("refId") == job.job_id]
    if job.provider == "gepetto":
        return stack.gepetto.status_calls(f"/v1/job/{job.job_id}")
    if job.provider == "sellerpic":
        found = stack.sellerpic.status_calls("/v1/api/generate")
        return [c for c in found if c.args.get("id") == job.job_id]
    found = stack.fliki.status_calls("/v1/generate/status")
    return [c for c in found if c.args.get("fileId") == job.job_id]


def submit(stack: Stack, job: Job, **extra: Any) -> None:
    answer = stack.submit(job.provider, job.job_id, **extra)
    assert answer.status_code == 202, answer.text


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def bucket() -> storage.Bucket:
    return storage.Client().bucket(BUCKET)


def folder_generations(folder: str) -> dict[str, int]:
    """The objects in a job's folder ("spacely/job-1"), by name, with their generations."""
    blobs = bucket().list_blobs(prefix=f"{folder}/")
    return {b.name.rsplit("/", 1)[1]: int(b.generation) for b in blobs}


def wait_settled(stack: Stack, jobs: list[Job], timeout_s: float = 90) -> None:
    """Until every job has a manifest (asked of the function, as a caller would: it answers
    503 while GCS is down); each folder is read once, at first sight of its manifest."""
    deadline = time.monotonic() + timeout_s
    waiting = [j for j in jobs if j.manifest is None]
    while waiting:
        for job in list(waiting):
            answer = stack.job(job.provider, job.job_id)
            if answer.status_code == 200 and answer.json()["manifest"] is not None:
                job.manifest = answer.json()["manifest"]
                job.calls_at_settle = len(status_calls(stack, job))
                job.generations = folder_generations(job.folder)
                waiting.remove(job)
        if waiting and time.monotonic() > deadline:
            names = [f"{j.folder}: {stack.job(j.provider, j.job_id).text[:200]}" for j in waiting]
            raise TimeoutError(
                f"not settled after {timeout_s} s: {names}\n{stack.function.tail(60)}"
            )
        time.sleep(0.1)


def crc32c_of(content: Content) -> tuple[int, str]:
    checksum = google_crc32c.Checksum()
    size = 0
    for chunk in content.chunks() if isinstance(content, ServedFile) else [content]:
        checksum.update(chunk)
        size += len(chunk)
    return size, base64.b64encode(checksum.digest()).decode()


def assert_settled_cleanly(stack: Stack, jobs: list[Job], timeout_s: float = 90) -> None:
    """Wait for every job, then check what the module docstring lists."""
    wait_settled(stack, jobs, timeout_s)
    # Nothing may happen to a settled job: watch for a while longer than its checks' interval.
    time.sleep(QUIET_S)
    events = stack.events()
    for job in jobs:
        assert_one_clean_job(stack, job, events)


def assert_one_clean_job(stack: Stack, job: Job, events: list[dict[str, Any]]) -> None:
    manifest = job.manifest
    assert manifest is not None
    where = job.folder
    assert manifest["state"] == job.state, (where, manifest["error"])
    assert (manifest["error"] or {}).get("code") == job.error_code, (where, manifest["error"])
    names = [f["name"] for f in manifest["files"]]
    if job.state == "succeeded":
        assert names == sorted(job.contents), where
    assert set(names) <= set(job.contents), where

    # The folder: the listed files and the manifest, each written once.
    now = folder_generations(job.folder)
    assert now == job.generations, f"{where}: objects changed after settling"
    assert set(now) == {*names, "manifest.json"}, f"{where} holds {sorted(now)}"
    assert all(RESULT_NAME.fullmatch(n) for n in names), names
    for entry in manifest["files"]:
        blob = bucket().get_blob(f"{where}/{entry['name']}")
        assert blob is not None
        size, crc = crc32c_of(job.contents[entry["name"]])
        assert (entry["size"], entry["crc32c"]) == (blob.size, blob.crc32c) == (size, crc), (
            f"{where}/{entry['name']}: truncated or altered"
        )

    assert bucket().get_blob(f"_jobcourier/pending/{where}.json") is None, f"{where} in flight"
    settled = [e for e in events if e.get("job_id") == job.job_id and e["event"] == "job_settled"]
    assert [e["state"] for e in settled] == [job.state], f"{where}: {settled}"
    assert len(status_calls(stack, job)) == job.calls_at_settle, f"{where} checked after settling"
    assert manifest["checks"] <= job.calls_at_settle, where


def function_log_lines(stack: Stack) -> list[str]:
    """Every line every function process of the stack wrote (JSON events and others)."""
    lines = []
    for log in sorted(stack.log_dir.glob("function*.log")) + [stack.log_dir / "webhooks.log"]:
        if log.exists():
            lines += log.read_text(errors="replace").splitlines()
    return lines
