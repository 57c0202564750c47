"""HTTP routing, and the one place where errors become HTTP answers.

Cloud Tasks retries any non-2xx answer, so only an InfrastructureError (or a bug) is non-2xx
on /poll: everything else is settled in this invocation.
"""

from __future__ import annotations

import hmac
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask

from jobcourier import logsafe
from jobcourier.courier import Courier
from jobcourier.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    InfrastructureError,
    JobcourierError,
    NoRoute,
    Throttled,
    Unauthorized,
    UnknownJob,
)
from jobcourier.model import Answer, CallbackTask, JobKey
from jobcourier.validation import (
    parse_callback_task,
    parse_cancel,
    parse_job_id,
    parse_json_object,
    parse_limit,
    parse_provider,
    parse_submission,
    parse_task,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Access:
    """Which routes this instance serves. The public webhook function runs with
    webhooks_only and a token; the private main function serves everything behind IAM."""

    webhooks_only: bool = False
    webhook_token: str | None = None
    project: str | None = None  # names the request's trace in log lines


def handle(
    request: flask.Request, courier: Callable[[], Courier], access: Callable[[], Access]
) -> flask.Response:
    logsafe.current_job.set(None)  # set again by the courier once it knows the job
    logsafe.current_trace.set(None)
    try:
        allowed = access()
        headers = request.headers
        trace = headers.get("traceparent"), headers.get("X-Cloud-Trace-Context")
        logsafe.set_trace(*trace, allowed.project)
        _admit(request, allowed)
        answer = _route(request, courier)
    except BadRequest as exc:
        if request.path == "/poll":
            # A task body we cannot read will not read better on a retry: drop it, loudly.
            log.error("dropped an unreadable poll task: %s", exc)
            return _json(200, {"outcome": "dropped", "error": str(exc)})
        return _json(400, {"error": str(exc)})
    except Unauthorized as exc:
        return _json(401, {"error": str(exc)})
    except (NoRoute, UnknownJob) as exc:
        return _json(404, {"error": str(exc)})
    except Conflict as exc:
        return _json(409, {"error": str(exc), **exc.details})
    except Throttled as exc:
        return _json(429, {"error": str(exc)})
    except InfrastructureError as exc:
        log.warning("%s %s: %s; asking for a retry", request.method, request.path, exc)
        return _json(503, {"error": str(exc)})
    except ConfigurationError as exc:
        log.error("configuration: %s", exc)
        return _json(500, {"error": str(exc)})
    except JobcourierError as exc:  # a provider or download error that escaped its handler
        log.exception("unhandled %s", exc.__class__.__name__)
        return _json(500, {"error": exc.__class__.__name__})
    except Exception:
        # Never str(exc) in the body: a library's message can carry a URL or a header.
        log.exception("internal error on %s %s", request.method, request.path)
        return _json(500, {"error": "internal error"})
    return _json(answer.http_status, answer.body)


def _admit(request: flask.Request, access: Access) -> None:
    is_webhook = request.method == "POST" and request.path.startswith("/webhooks/")
    if access.webhooks_only and not is_webhook:
        raise NoRoute(
            f"this endpoint serves only POST /webhooks/{{provider}}, "
            f"not {request.method} {request.path}"
        )
    if is_webhook and access.webhook_token is not None:
        given = request.args.get("token", "")
        if not hmac.compare_digest(given.encode(), access.webhook_token.encode()):
            raise Unauthorized("webhook token missing or wrong")


def _route(request: flask.Request, courier: Callable[[], Courier]) -> Answer:
    parts = [p for p in request.path.split("/") if p]
    method = request.method
    if method == "POST" and parts == ["jobs"]:
        body = _body(request, "the submission")
        job = courier()
        return job.submit(parse_submission(body, job.providers))
    if method == "POST" and parts == ["poll"]:
        body = _body(request, "the poll task")
        job = courier()
        if body.get("kind") == CallbackTask.KIND:
            return job.callbacks.deliver(parse_callback_task(body, job.providers))
        task = parse_task(body, job.providers)
        return job.poll(task, retry_count=_retry_count(request))
    if method == "POST" and len(parts) == 2 and parts[0] == "webhooks":
        return courier().webhook(parts[1], _body(request, f"the {parts[1]} webhook"))
    if method == "GET" and parts == ["jobs"]:
        return _list(request, courier())
    if method == "GET" and len(parts) == 3 and parts[0] == "jobs":
        return courier().status(_key(courier(), parts[1], parts[2]))
    if method == "POST" and len(parts) == 4 and parts[0] == "jobs" and parts[3] == "cancel":
        reason = parse_cancel(_body(request, "the cancel request", empty_ok=True))
        return courier().steering.cancel(_key(courier(), parts[1], parts[2]), reason)
    if method == "POST" and parts == ["sweep"]:
        if _body(request, "the sweep request", empty_ok=True):
            raise BadRequest("the sweep request must be empty or {}")
        return courier().steering.sweep()
    raise NoRoute(f"no route for {method} {request.path}")


def _key(job: Courier, provider: str, job_id: str) -> JobKey:
    known = parse_provider(provider, job.providers)
    return JobKey(known, parse_job_id(job_id, known))


def _list(request: flask.Request, job: Courier) -> Answer:
    unknown = set(request.args) - {"state", "provider", "limit", "page_token"}
    if unknown:
        raise BadRequest(f"unknown query parameters: {sorted(unknown)}")
    if request.args.get("state") != "pending":
        raise BadRequest(f"state must be 'pending'. Found: {request.args.get('state')!r}")
    provider = request.args.get("provider")
    if provider is not None:
        provider = parse_provider(provider, job.providers)
    limit = parse_limit(request.args.get("limit"))
    return job.steering.pending(provider, limit, request.args.get("page_token"))


def _retry_count(request: flask.Request) -> int:
    """Cloud Tasks' count of earlier attempts at this task (0 when absent or unreadable)."""
    value = request.headers.get("X-CloudTasks-TaskRetryCount", "0")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else 0


def _body(request: flask.Request, what: str, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object. At most the cap and one byte are read, Content-Length or
    not (a chunked body has none): the rest of an oversized body is never taken in."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        _leave_unread(request)
        raise BadRequest(
            f"{what} must be at most {MAX_BODY_BYTES} bytes. Found: {request.content_length}"
        )
    parts: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES and (part := request.stream.read(MAX_BODY_BYTES + 1 - size)):
        parts.append(part)
        size += len(part)
    if size > MAX_BODY_BYTES:
        _leave_unread(request)
        raise BadRequest(f"{what} must be at most {MAX_BODY_BYTES} bytes. Found more")
    raw = b"".join(parts)
    if empty_ok and not raw.strip():
        return {}
    return parse_json_object(raw, what)


def _leave_unread(request: flask.Request) -> None:
    """functions-framework reads whatever is left of the body after every answer, into
    memory (its after_request hook, `read_request`). An empty stream in its place leaves the
    rest of a refused body to the WSGI server, which discards it or closes the connection."""
    request.stream = io.BytesIO()


def _json(status: int, body: Any) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = status
    return response
