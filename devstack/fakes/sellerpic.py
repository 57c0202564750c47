"""Fake SellerPic: GET /v1/api/generate?id= and /v1/api/download?id=&downloadFormat=
(docs/providers.md#sellerpic).

Every download call hands out a new link; links can be made to expire (403) once."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.fakes.server import FakeServer, Scripted, ServedFile, png_bytes, scripted_error


@dataclass
class SellerPicTask:
    pending_checks: int
    outcomes: list[str]  # per item: "SUCCESS" or "FAILED"
    data: list[bytes]
    codes: list[int] = field(default_factory=list)  # non-zero body codes served first
    expire_first_link: bool = False
    errors: Scripted = field(default_factory=list)  # HTTP failures served first
    checks: int = 0


class FakeSellerPic(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tasks: dict[str, SellerPicTask] = {}
        self.download_calls: list[dict[str, str]] = []
        self._links = itertools.count()

    def rules(self) -> list[Rule]:
        return [
            Rule("/v1/api/generate", endpoint="generate", methods=["GET"]),
            Rule("/v1/api/download", endpoint="download", methods=["GET"]),
        ]

    def add_job(
        self,
        task_id: str,
        *,
        outcomes: list[str],
        pending_checks: int = 1,
        codes: list[int] | None = None,
        expire_first_link: bool = False,
        errors: Scripted | None = None,
    ) -> list[bytes]:
        data = [png_bytes(f"sellerpic/{task_id}/{n}", 3000 + n) for n in range(len(outcomes))]
        self.tasks[task_id] = SellerPicTask(
            pending_checks, outcomes, data, list(codes or []), expire_first_link, list(errors or [])
        )
        return data

    def generate(self, request: Request) -> Response:
        if not self.bearer_ok(request):
            return Response(status=401)
        task = self.tasks.get(request.args.get("id", ""))
        if task is None:
            return Response(status=404)
        if (failure := scripted_error(task.errors)) is not None:
            return failure
        if task.codes:
            return _answer(task.codes.pop(0), None, msg="too many concurrent tasks")
        task.checks += 1
        done = task.checks > task.pending_checks
        items = [
            {
                "id": f"{request.args['id']}{n:02d}",
                "fileUrl": f"{self.url}/preview/{n}.png",
                "status": outcome if done else "RUNNING",
                "errorCode": 2001 if done and outcome == "FAILED" else 0,
                "errorMsg": "model could not fit the garment"
                if done and outcome == "FAILED"
                else "",
            }
            for n, outcome in enumerate(task.outcomes)
        ]
        return _answer(0, {"resultList": items})

    def download(self, request: Request) -> Response:
        if not self.bearer_ok(request):
            return Response(status=401)
        self.download_calls.append(dict(request.args))
        item_id = request.args.get("id", "")
        task = self.tasks.get(item_id[:-2])
        if task is None or request.args.get("downloadFormat") not in (
            "png",
            "jpg",
            "webp",
            "mp4",
            "gif",
        ):
            return _answer(40004, None, msg="bad item or format")
        index = int(item_id[-2:])
        name = f"sellerpic/{item_id}/{next(self._links)}.png"
        served = ServedFile("image/png", task.data[index])
        if task.expire_first_link:
            task.expire_first_link = False
            served.failures = [403]
        url = self.serve_file(name, served) + "?Expires=1767225600&Signature=fake-signature"
        return _answer(
            0, {"name": f"{item_id}.png", "status": "SUCCESS", "fileUrl": url, "errorMsg": ""}
        )


def _answer(code: int, data: dict[str, Any] | None, msg: str = "success") -> Response:
    body = {"code": code, "data": data, "msg": msg, "success": code == 0, "traceId": "fake"}
    return Response(json.dumps(body), content_type="application/json")
