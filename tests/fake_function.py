"""A stand-in for the jobcourier function's operator surface, for the client's and the
command's unit tests: an http.server on 127.0.0.1 in a thread that answers as docs/contract.md says
(submit, status, list with pages, cancel, replay), keeps its jobs in memory and records every
request. It also mints Google-style ID tokens at /token, for the token tests."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter

# A deployed function's URL: not loopback, so requests to it carry an ID token.
REMOTE = "https://europe-west1-project.cloudfunctions.net/jobcourier"
PROVIDERS = ("spacely", "gepetto", "sellerpic", "fliki")
SUBMISSION_FIELDS = {"provider", "job_id", "deadline_seconds", "labels", "callback_url", "replay"}
NOT_SUCCEEDED = {"failed", "timed_out", "partial", "canceled"}
SUBMITTED_AT = "2026-11-22T10:00:00Z"
DEADLINE_AT = "2026-11-22T13:00:00Z"
SETTLED_AT = "2026-11-22T10:01:40Z"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    provider: str
    job_id: str
    labels: dict[str, str] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    checks: int = 0
    last_status: str | None = None
    # settle when a status GET has been answered this many times (then `then` is the manifest)
    settle_after: int | None = None
    then: dict[str, Any] | None = None
    status_gets: int = 0


def manifest(
    provider: str,
    job_id: str,
    state: str,
    *,
    sizes: tuple[int, ...] = (),
    error: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    if state != "succeeded" and error is None:
        error = {"code": "provider_failed", "message": "the provider reported 'failed'"}
    return {
        "provider": provider,
        "job_id": job_id,
        "state": state,
        "submitted_at": SUBMITTED_AT,
        "settled_at": SETTLED_AT,
        "checks": 6,
        "files": [
            {
                "name": f"{i:02d}.png",
                "uri": f"gs://bucket/{provider}/{job_id}/{i:02d}.png",
                "size": size,
                "crc32c": "AAAAAA==",
                "md5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                "content_type": "image/png",
                "source": f"https://cdn.test/{i}.png",
            }
            for i, size in enumerate(sizes)
        ],
        "error": error,
        "labels": labels or {},
    }


Canned = tuple[int, bytes, str]  # status, body, content type


class FakeFunction:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], Job] = {}
        self.seen: list[Seen] = []
        # (method, path) -> answers served first, whatever the route would say
        self.canned: dict[tuple[str, str], list[Canned]] = {}
        # how a job not submitted yet will go once it is: (status GETs, manifest)
        self.plans: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.token_ttl_s = 3600
        self.tokens_minted: list[dict[str, str]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._serve(self)

            def do_POST(self) -> None:  # noqa: N802
                fake._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- setting the scene -------------------------------------------------------------------
    def add(self, provider: str, job_id: str, **fields: Any) -> Job:
        job = Job(provider, job_id, **fields)
        self.jobs[(provider, job_id)] = job
        return job

    def plan(self, provider: str, job_id: str, settle_after: int, then: dict[str, Any]) -> None:
        """Once submitted, the job settles with `then` at its `settle_after`th status check."""
        self.plans[(provider, job_id)] = (settle_after, then)

    def answer(
        self, method: str, path: str, status: int, body: Any, content_type: str = ""
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        kind = content_type or ("application/json" if not isinstance(body, bytes) else "text/html")
        self.canned.setdefault((method, path), []).append((status, raw, kind))

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    # -- serving -----------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        form: dict[str, str] = {}
        body: Any = None
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        seen = Seen(
            handler.command,
            parts.path,
            {k: v[0] for k, v in parse_qs(parts.query).items()},
            dict(handler.headers.items()),
            body,
            form,
        )
        with self._lock:
            self.seen.append(seen)
            canned = self.canned.get((seen.method, seen.path))
            if canned:
                status, data, kind = canned.pop(0)
            else:
                status, answer = self._route(seen)
                data, kind = json.dumps(answer).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, seen: Seen) -> tuple[int, Any]:
        segments = [unquote(s) for s in seen.path.split("/") if s]
        if seen.method == "POST" and segments == ["token"]:
            return self._mint(seen)
        if seen.method == "POST" and segments == ["jobs"]:
            return self._submit(seen.body)
        if seen.method == "GET" and segments == ["jobs"]:
            return self._list(seen.query)
        if seen.method == "GET" and len(segments) == 3 and segments[0] == "jobs":
            return self._status(segments[1], segments[2])
        if seen.method == "POST" and len(segments) == 4 and segments[::3] == ["jobs", "cancel"]:
            return self._cancel(segments[1], segments[2], seen.body)
        return 404, {"error": f"no route for {seen.method} {seen.path}"}

    def _submit(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"error": "the submission must be a JSON object"}
        unknown = set(body) - SUBMISSION_FIELDS
        if unknown:
            return 400, {"error": f"unknown fields in the submission: {sorted(unknown)}"}
        provider, job_id = body.get("provider"), body.get("job_id")
        if provider not in PROVIDERS:
            return 400, {
                "error": f"provider must be one of {sorted(PROVIDERS)}. Found: {provider!r}"
            }
        if not isinstance(job_id, str) or not job_id or "/" in job_id:
            return 400, {"error": f"job_id must be a plain string. Found: {job_id!r}"}
        job = self.jobs.get((provider, job_id))
        if job is not None and job.manifest is not None:
            if not body.get("replay"):
                return 200, {"state": job.manifest["state"], "manifest": job.manifest}
            if job.manifest["state"] == "succeeded":
                return 409, {"error": f"{provider}/{job_id} succeeded: nothing to replay"}
            job.manifest = None
            return 202, {**self._pending(job), "replayed": True}
        if job is not None:
            return 202, {**self._pending(job), "duplicate": True}
        settle_after, then = self.plans.get((provider, job_id), (None, None))
        job = self.add(
            provider,
            job_id,
            labels=dict(body.get("labels") or {}),
            settle_after=settle_after,
            then=then,
        )
        return 202, self._pending(job)

    def _status(self, provider: str, job_id: str) -> tuple[int, Any]:
        job = self.jobs.get((provider, job_id))
        if job is None:
            return 404, {"error": f"no job {job_id!r} was submitted for {provider}"}
        job.status_gets += 1
        due = job.settle_after is not None and job.status_gets >= job.settle_after
        if job.manifest is None and due:
            job.manifest = job.then
        if job.manifest is not None:
            return 200, {"state": job.manifest["state"], "manifest": job.manifest}
        return 200, self._pending(job)

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("state") != "pending":
            return 400, {"error": "state must be 'pending'"}
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return 400, {"error": f"limit must be 1..1000. Found: {limit_text!r}"}
        token = query.get("page_token", "p0")
        if not (token.startswith("p") and token[1:].isdigit()):
            return 400, {"error": f"page_token was not handed out by this function: {token!r}"}
        start, limit = int(token[1:]), int(limit_text)
        pending = [
            j
            for j in self.jobs.values()
            if j.manifest is None and query.get("provider", j.provider) == j.provider
        ]
        page = pending[start : start + limit]
        more = start + limit < len(pending)
        return 200, {
            "jobs": [
                {
                    "provider": j.provider,
                    "job_id": j.job_id,
                    "state": "pending",
                    "submitted_at": SUBMITTED_AT,
                    "deadline_at": DEADLINE_AT,
                    "checks": j.checks,
                    "last_status": j.last_status,
                    "next_check_at": "2026-11-22T10:02:00Z",
                }
                for j in page
            ],
            "next_page_token": f"p{start + limit}" if more else None,
        }

    def _cancel(self, provider: str, job_id: str, body: Any) -> tuple[int, Any]:
        job = self.jobs.get((provider, job_id))
        if job is None:
            return 404, {"error": f"no job {job_id!r} was submitted for {provider}"}
        if job.manifest is None:
            reason = body.get("reason") if isinstance(body, dict) else None
            job.manifest = manifest(
                provider,
                job_id,
                "canceled",
                error={"code": "canceled", "message": reason or "canceled by an operator"},
            )
        if job.manifest["state"] != "canceled":
            return 409, {
                "error": f"{provider}/{job_id} is settled: {job.manifest['state']}",
                "state": job.manifest["state"],
                "manifest": job.manifest,
            }
        return 200, {"state": "canceled", "manifest": job.manifest}

    def _pending(self, job: Job) -> dict[str, Any]:
        return {
            "state": "pending",
            "manifest": None,
            "submitted_at": SUBMITTED_AT,
            "deadline_at": DEADLINE_AT,
        }

    def _mint(self, seen: Seen) -> tuple[int, Any]:
        """A token endpoint as google-auth's service account ID token flow calls it."""
        self.tokens_minted.append(seen.form)
        claims = {"exp": int(time.time()) + self.token_ttl_s, "n": len(self.tokens_minted)}
        return 200, {"id_token": unsigned_jwt(claims)}


def unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class RecordingTokens:
    """A token source that records the audiences it was asked for."""

    def __init__(self) -> None:
        self.audiences: list[str] = []

    def __call__(self, audience: str) -> str:
        self.audiences.append(audience)
        return f"id-token-{len(self.audiences)}"


class Rerouting(HTTPAdapter):
    """Sends what the client addresses to REMOTE to the fake instead, so that a non-loopback
    URL can be tested on this machine; records the requests as the client made them."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(request.copy())
        request.url = (request.url or "").replace(REMOTE, self.to, 1)
        return super().send(request, **kwargs)


def rerouted(fake: FakeFunction) -> tuple[requests.Session, Rerouting]:
    """A session whose requests to REMOTE reach the fake."""
    session = requests.Session()
    adapter = Rerouting(fake.url)
    session.mount("https://", adapter)
    return session, adapter
