"""Fake Spacely: GET /api/v1/generate/poll-result?refId=ID with X-API-KEY
(docs/providers.md#spacely)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.fakes.server import FakeServer, Scripted, ServedFile, png_bytes, scripted_error

STATUS_PATH = "/api/v1/generate/poll-result"


@dataclass
class SpacelyJob:
    pending_checks: int = 2  # answers "processing" this many times first
    final_status: str = "success"  # or "failed", or any unknown word
    urls: list[str] = field(default_factory=list)
    errors: Scripted = field(default_factory=list)  # served first
    checks: int = 0


class FakeSpacely(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, SpacelyJob] = {}

    def rules(self) -> list[Rule]:
        return [Rule(STATUS_PATH, endpoint="poll_result", methods=["GET"])]

    def add_job(
        self,
        job_id: str,
        *,
        pending_checks: int = 2,
        final_status: str = "success",
        files: int = 2,
        errors: Scripted | None = None,
    ) -> list[bytes]:
        """Script a job; returns the bytes its result files will hold."""
        blobs = [png_bytes(f"{job_id}/{n}", 1500 + 700 * n) for n in range(files)]
        urls = [
            self.serve_file(f"spacely-enterprise/{job_id}/{n + 1}.png", ServedFile("image/png", b))
            for n, b in enumerate(blobs)
        ]
        self.jobs[job_id] = SpacelyJob(pending_checks, final_status, urls, list(errors or []))
        return blobs

    def poll_result(self, request: Request) -> Response:
        if request.headers.get("X-API-KEY") != self.api_key:
            return Response(status=401)
        job = self.jobs.get(request.args.get("refId", ""))
        if job is None:
            return Response(status=400)
        if (failure := scripted_error(job.errors)) is not None:
            return failure
        job.checks += 1
        if job.checks <= job.pending_checks:
            data = {"status": "processing", "result": []}
        elif job.final_status == "success":
            data = {"status": "success", "result": job.urls}
        else:
            data = {"status": job.final_status, "result": []}
        return Response(json.dumps({"data": data}), content_type="application/json")
