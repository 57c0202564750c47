"""`scripts/local`: the whole loop on this machine, no cloud account.

Starts the GCS emulator, the Cloud Tasks emulator, a fake Spacely and the function; submits a
few jobs (a slow one, a failing one, one with a status nobody knows, a duplicate, a bad one);
shows them progress and land; lists the bucket; stops everything it started.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from google.cloud import storage

from devstack.processes import ROOT
from devstack.stack import BUCKET, Stack

JOBS = [
    # (job id, what the fake does, submission extras)
    ("a-slow-render", {"pending_checks": 6, "files": 4}, {"labels": {"order": "A-17"}}),
    ("a-quick-one", {"pending_checks": 1, "files": 1}, {}),
    ("a-failing-one", {"pending_checks": 2, "final_status": "failed"}, {}),
    ("an-odd-status", {"pending_checks": 0, "final_status": "rendering"},
     {"deadline_seconds": 400}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-scale", type=float, default=0.02,
                        help="JOBCOURIER_DELAY_SCALE for the function (default 0.02)")
    parser.add_argument("--logs", type=Path, default=ROOT / ".cache" / "local-logs",
                        help="where the emulators' and the function's logs go")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"starting emulators, fake Spacely and the function (logs in {args.logs}) ...")
    with Stack(delay_scale=args.delay_scale, log_dir=args.logs) as stack:
        print(f"function at {stack.url}, Cloud Tasks emulator at {stack.tasks.host}, "
              f"GCS emulator at {stack.gcs.url}\n")
        for job_id, script, extra in JOBS:
            stack.spacely.add_job(job_id, **script)
            answer = stack.submit("spacely", job_id, **extra)
            print(f"POST /jobs {job_id:<16} -> {answer.status_code}")
        answer = stack.submit("spacely", "a-slow-render")
        print(f"POST /jobs {'a-slow-render':<16} -> {answer.status_code} (again: {answer.json()})")
        answer = stack.submit("spacely", "../../etc/passwd")
        print(f"POST /jobs {'../../etc/passwd':<16} -> {answer.status_code} {answer.json()}\n")
        _watch(stack, [job for job, _, _ in JOBS])
        print(f"\ngs://{BUCKET}:")
        for blob in storage.Client().list_blobs(BUCKET):
            print(f"  {blob.size:>7}  {blob.name}")
        print(f"\nmanifest of a-slow-render:\n{_manifest('a-slow-render')}")
    print(f"\nstopped everything; {time.monotonic() - started:.1f} s in all")


def _watch(stack: Stack, job_ids: list[str], timeout_s: float = 60.0) -> None:
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(states) < len(job_ids) or not states:
        for job_id in job_ids:
            if job_id in states:
                continue
            body = stack.job("spacely", job_id).json()
            checks = sum(1 for c in stack.spacely.calls if c.args.get("refId") == job_id)
            if body["manifest"] is not None:
                states[job_id] = body["state"]
                error = body["manifest"]["error"]
                print(f"{time.strftime('%X')}  {job_id:<16} {body['state']:<10} after "
                      f"{checks} checks {error['code'] if error else ''}")
        time.sleep(0.25)
    missing = set(job_ids) - set(states)
    if missing:
        raise SystemExit(f"not settled in {timeout_s} s: {sorted(missing)}")


def _manifest(job_id: str) -> str:
    blob = storage.Client().bucket(BUCKET).blob(f"spacely/{job_id}/manifest.json")
    return blob.download_as_text()


if __name__ == "__main__":
    main()
