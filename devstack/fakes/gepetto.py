"""Fake Gepetto: GET /v1/job/{id} with a Bearer key (docs/providers.md#gepetto)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.fakes.server import FakeServer, Scripted, ServedFile, png_bytes, scripted_error


@dataclass
class GepettoJob:
    pending_checks: int
    final_status: str
    url: str
    errors: Scripted = field(default_factory=list)
    checks: int = 0


class FakeGepetto(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, GepettoJob] = {}

    def rules(self) -> list[Rule]:
        return [Rule("/v1/job/<job_id>", endpoint="job", methods=["GET"])]

    def add_job(
        self,
        job_id: str,
        *,
        pending_checks: int = 2,
        final_status: str = "success",
        errors: Scripted | None = None,
    ) -> bytes:
        data = png_bytes(f"gepetto/{job_id}", 4096)
        url = self.serve_file(f"gepetto/{job_id}.png", ServedFile("image/png", data))
        self.jobs[job_id] = GepettoJob(pending_checks, final_status, url, list(errors or []))
        return data

    def job(self, request: Request, job_id: str) -> Response:
        if not self.bearer_ok(request):
            return Response(status=401)
        job = self.jobs.get(job_id)
        if job is None:
            return Response(status=400)
        if (failure := scripted_error(job.errors)) is not None:
            return failure
        job.checks += 1
        if job.checks <= job.pending_checks:
            body: dict[str, object] = {"status": "pending", "id": job_id}
        elif job.final_status == "success":
            body = {
                "status": "success",
                "output": job.url,
                "mode": "furnish",
                "createdAt": "2026-11-22T10:00:00.000Z",
            }
        else:
            body = {"status": job.final_status, "id": job_id}
        return Response(json.dumps(body), content_type="application/json")
