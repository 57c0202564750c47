"""Fake Fliki: GET /v1/generate/status?fileId= with a Bearer key (docs/providers.md#fliki).

Progress rises with each check; the result is a video that can be large: it is produced in
chunks on the fly, never held whole."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.fakes.server import FakeServer, Scripted, ServedFile, scripted_error


@dataclass
class FlikiFile:
    pending_checks: int
    final_status: str
    url: str
    errors: Scripted = field(default_factory=list)
    checks: int = 0


class FakeFliki(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.files_by_id: dict[str, FlikiFile] = {}

    def rules(self) -> list[Rule]:
        return [Rule("/v1/generate/status", endpoint="status", methods=["GET"])]

    def add_job(
        self,
        file_id: str,
        *,
        pending_checks: int = 3,
        final_status: str = "success",
        size: int = 3 * 1024 * 1024,
        errors: Scripted | None = None,
    ) -> ServedFile:
        served = ServedFile("video/mp4", size=size, seed=f"fliki/{file_id}")
        url = self.serve_file(f"fliki/{file_id}.mp4", served)
        self.files_by_id[file_id] = FlikiFile(pending_checks, final_status, url, list(errors or []))
        return served

    def status(self, request: Request) -> Response:
        if not self.bearer_ok(request):
            return Response(status=401)
        file_id = request.args.get("fileId", "")
        job = self.files_by_id.get(file_id)
        if job is None:
            return Response(status=404)
        if (failure := scripted_error(job.errors)) is not None:
            return failure
        job.checks += 1
        body: dict[str, object] = {"fileId": file_id}
        if job.checks == 1 and job.pending_checks:
            body["status"] = "queued"
        elif job.checks <= job.pending_checks:
            body.update(
                status="processing", progress=round(100 * (job.checks - 1) / job.pending_checks)
            )
        elif job.final_status == "success":
            body.update(status="success", download=job.url)
        else:
            body["status"] = job.final_status
        return Response(json.dumps(body), content_type="application/json")
