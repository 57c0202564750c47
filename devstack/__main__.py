"""`scripts/local`: the whole loop on this machine, no cloud account.

Starts the GCS emulator, the Cloud Tasks emulator, the four fake providers, a callback
receiver and the function; submits a few jobs at each provider (slow, failing, an unknown
status, a webhook, a partial result with an expired link, a large video behind a 429, a
duplicate, a bad one); shows them progress and land; lists the bucket; then steers: lists what
is in flight, cancels a job (its signed callback arrives and is verified), replays the failed
one; stops everything it started.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from google.cloud import storage

from devstack.processes import ROOT
from devstack.stack import BUCKET, Stack
from jobcourier.client import Client

# (provider, job id, how its fake behaves, submission extras)
JOBS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("spacely", "a-slow-render", {"pending_checks": 6, "files": 4}, {"labels": {"order": "A-17"}}),
    ("spacely", "a-failing-one", {"pending_checks": 2, "final_status": "failed"}, {}),
    (
        "spacely",
        "an-odd-status",
        {"pending_checks": 0, "final_status": "rendering"},
        {"deadline_seconds": 400},
    ),
    ("gepetto", "a-furnished-room", {"pending_checks": 50}, {}),  # finishes by webhook
    (
        "sellerpic",
        "1234567890123",
        {
            "outcomes": ["SUCCESS", "FAILED", "SUCCESS", "SUCCESS"],
            "pending_checks": 2,
            "expire_first_link": True,
        },
        {},
    ),
    (
        "fliki",
        "a-product-video",
        {"pending_checks": 4, "size": 24 * 1024 * 1024, "errors": [(429, {"Retry-After": "30"})]},
        {},
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--delay-scale",
        type=float,
        default=0.02,
        help="JOBCOURIER_DELAY_SCALE for the function (default 0.02)",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        default=ROOT / ".cache" / "local-logs",
        help="where the emulators' and the function's logs go",
    )
    args = parser.parse_args()
    started = time.monotonic()
    print(f"starting emulators, the four fake providers and the function (logs in {args.logs}) ...")
    with Stack(delay_scale=args.delay_scale, log_dir=args.logs) as stack:
        print(
            f"function at {stack.url}, webhook function at {stack.webhooks_url}, "
            f"Cloud Tasks emulator at {stack.tasks.host}, "
            f"GCS emulator at {stack.gcs.url}\n"
        )
        for provider, job_id, script, extra in JOBS:
            _script(stack, provider, job_id, script)
            answer = stack.submit(provider, job_id, **extra)
            print(f"POST /jobs {provider:<9} {job_id:<16} -> {answer.status_code}")
        answer = stack.submit("spacely", "a-slow-render")
        print(
            f"POST /jobs spacely   a-slow-render    -> {answer.status_code} "
            f"(again: duplicate={answer.json()['duplicate']})"
        )
        answer = stack.submit("spacely", "../../etc/passwd")
        print(f"POST /jobs spacely   ../../etc/passwd -> {answer.status_code} {answer.json()}")
        stack.gepetto.jobs["a-furnished-room"].pending_checks = 1
        answer = stack.webhook("gepetto", {"id": "a-furnished-room", "output": "https://x/y.png"})
        print(f"POST /webhooks/gepetto a-furnished-room -> {answer.status_code} {answer.json()}\n")
        _watch(stack, [(provider, job) for provider, job, _, _ in JOBS])
        print(f"\ngs://{BUCKET}:")
        for blob in storage.Client().list_blobs(BUCKET):
            print(f"  {blob.size:>9}  {blob.name}")
        print(f"\nmanifest of a-slow-render:\n{_manifest('a-slow-render')}")
        _steer(stack)
    print(f"\nstopped everything; {time.monotonic() - started:.1f} s in all")


def _steer(stack: Stack) -> None:
    """The operators' surface: what is in flight, a cancel, a replay, a signed callback."""
    client = Client(stack.url)
    print("\nsteering, through jobcourier.client (the `jobcourier` command's library):")
    stack.spacely.add_job("a-mistake", pending_checks=100_000)
    hook = stack.receiver.url_for("a-mistake")
    client.submit("spacely", "a-mistake", callback_url=hook)
    time.sleep(0.5)  # a check or two
    for job in client.list():
        print(
            f"  in flight: {job.provider}/{job.job_id}, {job.checks} checks, "
            f"last status {job.last_status!r}, next check at {job.next_check_at}"
        )
    canceled = client.cancel("spacely", "a-mistake", reason="submitted by mistake")
    print(f"  cancel spacely/a-mistake -> {canceled.state}")
    [delivery] = stack.receiver.wait_for("a-mistake")
    print(
        f"  callback received: {delivery.body['type']} {delivery.body['data']['state']}, "
        f"signature verified: {delivery.verified}, webhook-id {delivery.webhook_id}"
    )
    stack.spacely.add_job("a-failing-one", pending_checks=1, files=2)  # it works this time
    replayed = client.replay("spacely", "a-failing-one")
    print(f"  replay spacely/a-failing-one -> {replayed.state} (replayed: {replayed.replayed})")
    final = client.wait("spacely", "a-failing-one", timeout=30)
    print(f"  spacely/a-failing-one is now {final.state}")
    counts = Counter(e["event"] for e in stack.events())
    print(f"  log events written: {dict(sorted(counts.items()))}")


def _script(stack: Stack, provider: str, job_id: str, script: dict[str, Any]) -> None:
    stack.fakes[provider].add_job(job_id, **script)  # type: ignore[attr-defined]


def _watch(stack: Stack, jobs: list[tuple[str, str]], timeout_s: float = 60.0) -> None:
    states: dict[tuple[str, str], str] = {}
    deadline = time.monotonic() + timeout_s
    next_progress = time.monotonic() + 1.0
    while time.monotonic() < deadline and len(states) < len(jobs):
        if time.monotonic() >= next_progress:  # what is still running, once a second
            running = [
                f"{p}/{j} ({_checks_seen(stack, p, j)} checks)"
                for p, j in jobs
                if (p, j) not in states
            ]
            print(f"{time.strftime('%X')}  still running: {', '.join(running)}")
            next_progress += 1.0
        for provider, job_id in jobs:
            if (provider, job_id) in states:
                continue
            body = stack.job(provider, job_id).json()
            if body["manifest"] is not None:
                states[(provider, job_id)] = body["state"]
                manifest = body["manifest"]
                error = manifest["error"]
                print(
                    f"{time.strftime('%X')}  {provider:<9} {job_id:<16} {body['state']:<10}"
                    f" after {manifest['checks']:>2} checks, {len(manifest['files'])} files "
                    f"{error['code'] if error else ''}"
                )
        time.sleep(0.25)
    missing = set(jobs) - set(states)
    if missing:
        raise SystemExit(f"not settled in {timeout_s} s: {sorted(missing)}")


def _checks_seen(stack: Stack, provider: str, job_id: str) -> int:
    """Status calls the provider's fake has answered for this job so far."""
    return sum(
        1
        for call in getattr(stack, provider).calls
        if job_id in call.path or job_id in call.args.values()
    )


def _manifest(job_id: str) -> str:
    blob = storage.Client().bucket(BUCKET).blob(f"spacely/{job_id}/manifest.json")
    text: str = blob.download_as_text()
    return text


if __name__ == "__main__":
    main()
