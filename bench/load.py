"""Load on the whole local loop: many jobs at once through the function, the dispatching Cloud
Tasks emulator, the GCS emulator and the four fake providers.

    python -m bench.load --jobs 1000 [--delay-scale 0.02] [--concurrency 8] [--seed 0]

Submits the jobs (a seeded mix over the four providers: pending checks, failures, an
unrecognised status that runs into a short deadline, SellerPic tries with failed items,
Fliki videos of up to 4 MiB, some status calls failing with 5xx or 429 first), waits for
every one to settle, and prints JSON lines: first the whole run, then one line per provider.

- submitted / settled / lost: accepted (202), with a manifest, without one by --timeout;
  unexpected_states counts manifests whose state is not the one the job was scripted for
- duplicated_objects: objects in a job's folder other than its manifest and the files it
  lists, plus objects rewritten after the manifest was first seen (generation changed)
- refetched_files: result-file GETs at the fakes beyond one per stored file
- checks_per_job: the manifests' mean `checks`; status_calls_per_job: what the fakes saw
- settle_p50_s / settle_p95_s: job_settled's duration_s, from submission to manifest
- wall_time_s: first submission to last manifest; peak_rss_mib: the function process
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devstack.stack import BUCKET, Stack

PROVIDERS = ("spacely", "gepetto", "sellerpic", "fliki")
WEIGHTS = (4, 2, 2, 2)
STATUS_PATHS = {  # the status APIs (SellerPic's download API is not one)
    "spacely": "/api/v1/generate/poll-result",
    "gepetto": "/v1/job/",
    "sellerpic": "/v1/api/generate",
    "fliki": "/v1/generate/status",
}
KIB = 1024


@dataclass
class Planned:
    provider: str
    job_id: str
    script: dict[str, Any]  # the fake's add_job arguments
    expected: str  # the state the script leads to
    deadline_s: int | None = None
    submitted: bool = False
    first_seen: dict[str, int] = field(default_factory=dict)  # folder at first sight of manifest
    seen_at: float | None = None

    @property
    def folder(self) -> str:
        return f"{self.provider}/{self.job_id}"


def plan(jobs: int, seed: int) -> list[Planned]:
    """A reproducible mix of jobs over the four providers."""
    rng = random.Random(seed)
    planned = []
    for n in range(jobs):
        provider = rng.choices(PROVIDERS, WEIGHTS)[0]
        errors = _storm(rng) if rng.random() < 0.1 else []
        job_id = f"load-{seed}-{n:05d}"
        if provider == "spacely":
            planned.append(_spacely(rng, job_id, errors))
        elif provider == "gepetto":
            ok = rng.random() < 0.9
            script = {
                "pending_checks": rng.randint(0, 4),
                "final_status": "success" if ok else "failed",
                "errors": errors,
            }
            planned.append(Planned(provider, job_id, script, "succeeded" if ok else "failed"))
        elif provider == "sellerpic":
            planned.append(_sellerpic(rng, seed, n, errors))
        else:
            ok = rng.random() < 0.9
            script = {
                "pending_checks": rng.randint(1, 5),
                "final_status": "success" if ok else "error",
                "size": rng.randint(256 * KIB, 4096 * KIB),
                "errors": errors,
            }
            planned.append(Planned(provider, job_id, script, "succeeded" if ok else "failed"))
    return planned


def _storm(rng: random.Random) -> list[tuple[int, dict[str, str]]]:
    choices = [(500, {}), (503, {}), (502, {}), (429, {"Retry-After": "30"})]
    return [rng.choice(choices) for _ in range(rng.randint(1, 3))]


def _spacely(rng: random.Random, job_id: str, errors: list[Any]) -> Planned:
    roll = rng.random()
    script: dict[str, Any] = {
        "pending_checks": rng.randint(0, 5),
        "files": rng.randint(1, 3),
        "errors": errors,
    }
    if roll < 0.85:
        return Planned("spacely", job_id, script, "succeeded")
    if roll < 0.97:
        return Planned("spacely", job_id, {**script, "final_status": "failed"}, "failed")
    # a word nobody modelled, until a deadline of 300 s (6 s at scale 0.02)
    return Planned(
        "spacely", job_id, {**script, "final_status": "rendering-v2"}, "timed_out", deadline_s=300
    )


def _sellerpic(rng: random.Random, seed: int, n: int, errors: list[Any]) -> Planned:
    items = rng.randint(1, 4)
    roll = rng.random()
    outcomes = ["SUCCESS"] * items
    if 0.75 <= roll < 0.95:
        outcomes[rng.randrange(items)] = "FAILED"
    elif roll >= 0.95:
        outcomes = ["FAILED"] * items
    done = set(outcomes)
    expected = "succeeded" if done == {"SUCCESS"} else "failed" if done == {"FAILED"} else "partial"
    script = {
        "outcomes": outcomes,
        "pending_checks": rng.randint(1, 2),
        "codes": [30003] if rng.random() < 0.1 else [],
        "errors": errors,
    }
    job_id = str(10**14 + seed * 10**6 + n)  # SellerPic ids are int64
    return Planned("sellerpic", job_id, script, expected)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    planned = plan(args.jobs, args.seed)
    with Stack(delay_scale=args.delay_scale) as stack:
        for job in planned:
            stack.fakes[job.provider].add_job(job.job_id, **job.script)  # type: ignore[attr-defined]
        started = time.monotonic()

        def submit(job: Planned) -> None:
            extra = {"deadline_seconds": job.deadline_s} if job.deadline_s else {}
            for _ in range(5):  # a 503 (the queue or bucket busy) asks for a retry
                answer = stack.submit(job.provider, job.job_id, **extra)
                if answer.status_code != 503:
                    break
            job.submitted = answer.status_code == 202

        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(submit, planned))
        submit_time = time.monotonic() - started
        settled_at = _wait_settled(planned, time.monotonic() + args.timeout)
        wall_time = (settled_at or time.monotonic()) - started
        peak_kib = stack.function.peak_rss_kib()
        return _figures(stack, planned, args, wall_time, submit_time, peak_kib)


def _listing(client: Any) -> dict[str, dict[str, int]]:
    """Every job folder in the bucket: its objects' names and generations."""
    folders: dict[str, dict[str, int]] = {}
    for provider in PROVIDERS:
        for blob in client.list_blobs(BUCKET, prefix=f"{provider}/"):
            folder, _, name = blob.name.rpartition("/")
            folders.setdefault(folder, {})[name] = int(blob.generation)
    return folders


def _wait_settled(planned: list[Planned], deadline: float) -> float | None:
    """Until every submitted job has a manifest (or the deadline): when the last appeared."""
    from google.cloud import storage

    client = storage.Client()
    waiting = [j for j in planned if j.submitted]
    last = None
    while waiting and time.monotonic() < deadline:
        folders = _listing(client)
        now = time.monotonic()
        for job in list(waiting):
            found = folders.get(job.folder, {})
            if "manifest.json" in found:
                job.first_seen, job.seen_at = found, now
                last = now
                waiting.remove(job)
        if waiting:
            time.sleep(1.0)
    return last if not waiting else None


def _figures(
    stack: Stack,
    planned: list[Planned],
    args: argparse.Namespace,
    wall_time: float,
    submit_time: float,
    peak_kib: int | None,
) -> list[dict[str, Any]]:
    from google.cloud import storage

    client = storage.Client()
    bucket = client.bucket(BUCKET)
    settled = [j for j in planned if j.seen_at is not None]
    with ThreadPoolExecutor(8) as pool:
        manifests = dict(
            zip(
                (j.folder for j in settled),
                pool.map(
                    lambda j: json.loads(
                        bucket.blob(f"{j.folder}/manifest.json").download_as_bytes()
                    ),
                    settled,
                ),
                strict=True,
            )
        )
    final = _listing(client)
    duplicated = 0
    stored_files = 0
    for job in settled:
        listed = {f["name"] for f in manifests[job.folder]["files"]}
        stored_files += len(listed)
        now = final.get(job.folder, {})
        strays = set(now) - listed - {"manifest.json"}
        rewritten = {n for n, g in now.items() if job.first_seen.get(n, g) != g}
        added = set(now) - set(job.first_seen)
        duplicated += len(strays | rewritten | added)
    settles = {e["job_id"]: e["duration_s"] for e in stack.events() if e["event"] == "job_settled"}
    file_gets = sum(len(fake.file_gets) for fake in stack.fakes.values())
    status_calls = sum(
        c.path.startswith(STATUS_PATHS[name])
        for name, fake in stack.fakes.items()
        for c in fake.calls
    )
    states = Counter(manifests[j.folder]["state"] for j in settled)
    whole = {
        "jobs": len(planned),
        "submitted": sum(j.submitted for j in planned),
        "settled": len(settled),
        "lost": sum(j.submitted and j.seen_at is None for j in planned),
        "states": dict(sorted(states.items())),
        "unexpected_states": sum(manifests[j.folder]["state"] != j.expected for j in settled),
        "settled_events": len(settles),
        "duplicated_objects": duplicated,
        "stored_files": stored_files,
        "file_gets": file_gets,
        "refetched_files": file_gets - stored_files,
        "checks_per_job": _mean([manifests[j.folder]["checks"] for j in settled]),
        "status_calls_per_job": round(status_calls / max(len(settled), 1), 2),
        **_percentiles([settles[j.job_id] for j in settled if j.job_id in settles]),
        "submit_time_s": round(submit_time, 1),
        "wall_time_s": round(wall_time, 1),
        "peak_rss_mib": None if peak_kib is None else round(peak_kib / 1024, 1),
        "delay_scale": args.delay_scale,
        "concurrency": args.concurrency,
    }
    lines = [whole]
    for provider in PROVIDERS:
        mine = [j for j in settled if j.provider == provider]
        lines.append(
            {
                "provider": provider,
                "jobs": sum(j.provider == provider for j in planned),
                "settled": len(mine),
                "unexpected_states": sum(manifests[j.folder]["state"] != j.expected for j in mine),
                "checks_per_job": _mean([manifests[j.folder]["checks"] for j in mine]),
                **_percentiles([settles[j.job_id] for j in mine if j.job_id in settles]),
            }
        )
    return lines


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _percentiles(durations: Sequence[float]) -> dict[str, float | None]:
    if len(durations) < 2:
        only = round(durations[0], 2) if durations else None
        return {"settle_p50_s": only, "settle_p95_s": only}
    cuts = statistics.quantiles(durations, n=20, method="inclusive")
    return {"settle_p50_s": round(cuts[9], 2), "settle_p95_s": round(cuts[18], 2)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--delay-scale", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=8, help="submissions at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for all")
    args = parser.parse_args(argv)
    for line in run(args):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
