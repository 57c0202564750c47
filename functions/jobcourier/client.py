"""A client for jobcourier's HTTP surface, for operators and scripts (docs/contract.md); the
`jobcourier` command (cli.py) is built on it. The function never imports this module: it needs
only requests and google-auth, which the function depends on anyway.

    client = Client("https://REGION-PROJECT.cloudfunctions.net/jobcourier")
    client.submit("spacely", job_id, labels={"order": "A-17"})
    final = client.wait("spacely", job_id, timeout=600)
    final.succeeded, final.manifest.files

Every request carries a Google ID token whose audience is the function's URL, unless the URL's
host is a loopback address (the local stack), where none is sent.

Errors: every failure is a ClientError, with .message and .status (the HTTP status, None when
no answer came).

    ClientError
    +-- UsageError          something the client cannot send (a URL that is not http(s))
    +-- ConnectionFailed    no answer: refused, timed out, name not resolved, TLS
    +-- CredentialsMissing  no Google ID token could be had for the URL
    +-- UnexpectedAnswer    an answer that is not the JSON the contract promises
    +-- HttpError           a 4xx or 5xx answer; .body holds its JSON when it had some
    |   +-- NotFound        404: an unknown job, or a route this function does not serve
    |   +-- Conflict        409: the job is settled in a way the request cannot change
    +-- WaitTimedOut        wait() gave up; .last holds the last answer seen
"""

from __future__ import annotations

import ipaddress
import math
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

SETTLED_STATES = frozenset({"succeeded", "partial", "failed", "timed_out", "canceled"})
DEFAULT_TIMEOUT_S = 30.0
# wait(): transient errors (connection, 429, 5xx) tolerated in a row once the job was seen.
MAX_WAIT_FAILURES = 5
_ERROR_TEXT_CHARS = 300


# -- errors ----------------------------------------------------------------------------------
class ClientError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UsageError(ClientError):
    pass


class ConnectionFailed(ClientError):
    pass


class CredentialsMissing(ClientError):
    pass


class UnexpectedAnswer(ClientError):
    pass


class HttpError(ClientError):
    def __init__(self, message: str, *, status: int, body: Mapping[str, Any] | None) -> None:
        super().__init__(message, status=status)
        self.body = body


class NotFound(HttpError):
    pass


class Conflict(HttpError):
    pass


class WaitTimedOut(ClientError):
    def __init__(self, message: str, *, last: JobAnswer | None) -> None:
        super().__init__(message)
        self.last = last


# -- answers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredFile:
    name: str
    uri: str | None
    size: int | None
    content_type: str | None
    crc32c: str | None
    md5: str | None
    source: str | None


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Manifest:
    provider: str | None
    job_id: str | None
    state: str
    submitted_at: str | None
    settled_at: str | None
    checks: int | None
    files: tuple[StoredFile, ...]
    error: JobError | None
    labels: Mapping[str, str]

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)


@dataclass(frozen=True)
class JobAnswer:
    """The function's answer about one job (submit, status, cancel, replay). `raw` is the JSON
    exactly as answered; the other fields are read from it, leniently."""

    http_status: int
    state: str
    manifest: Manifest | None
    submitted_at: str | None
    deadline_at: str | None
    duplicate: bool
    replayed: bool
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def settled(self) -> bool:
        """A manifest means settled; so does a settled state word."""
        return self.manifest is not None or self.state in SETTLED_STATES

    @property
    def succeeded(self) -> bool:
        """Only the word `succeeded` succeeds: a state nobody modelled never does."""
        return self.settled and self.state == "succeeded"


@dataclass(frozen=True)
class PendingJob:
    """One entry of GET /jobs?state=pending."""

    provider: str | None
    job_id: str | None
    state: str
    submitted_at: str | None
    deadline_at: str | None
    checks: int | None
    last_status: str | None
    next_check_at: str | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class JobPage:
    jobs: tuple[PendingJob, ...]
    next_page_token: str | None
    raw: Mapping[str, Any] = field(repr=False)


# -- ID tokens -------------------------------------------------------------------------------
class TokenSource(Protocol):
    """Gives a Google ID token for an audience (the function's URL)."""

    def __call__(self, audience: str) -> str: ...


class GoogleIdTokens:
    """ID tokens from the environment's Google credentials, as google-auth's fetch_id_token
    finds them (a service account key or impersonated credentials named by
    GOOGLE_APPLICATION_CREDENTIALS, else the metadata server). Kept per audience and fetched
    again once expired (they last an hour), so a long wait() stays authorised."""

    def __init__(self) -> None:
        self._credentials: dict[str, Any] = {}

    def __call__(self, audience: str) -> str:
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.id_token

        request = google.auth.transport.requests.Request()
        try:
            credentials = self._credentials.get(audience)
            if credentials is None:
                # google-auth leaves this function unannotated
                credentials = google.oauth2.id_token.fetch_id_token_credentials(  # type: ignore[no-untyped-call]
                    audience, request=request
                )
                self._credentials[audience] = credentials
            if not credentials.valid:
                credentials.refresh(request)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise CredentialsMissing(
                f"no Google ID token for {audience}: {str(exc).rstrip('.')}. Point "
                "GOOGLE_APPLICATION_CREDENTIALS at a service account key, or at the file "
                "that `gcloud auth application-default login --impersonate-service-account=SA` "
                "writes, or run where the metadata server answers"
            ) from exc
        return str(credentials.token)


def is_loopback(url: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: no ID token is sent there."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host.rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


# -- the client ------------------------------------------------------------------------------
class Client:
    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        token_source: TokenSource | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = _base_url(url)
        self.sends_token = not is_loopback(self.url)
        self._session = session if session is not None else requests.Session()
        self._tokens: TokenSource = token_source if token_source is not None else GoogleIdTokens()
        self._timeout = timeout

    def submit(
        self,
        provider: str,
        job_id: str,
        *,
        deadline_seconds: float | None = None,
        labels: Mapping[str, str] | None = None,
        callback_url: str | None = None,
        replay: bool = False,
    ) -> JobAnswer:
        """POST /jobs. Optional fields are sent only when given."""
        body: dict[str, Any] = {"provider": provider, "job_id": job_id}
        if deadline_seconds is not None:
            body["deadline_seconds"] = _number(deadline_seconds)
        if labels:
            body["labels"] = dict(labels)
        if callback_url is not None:
            body["callback_url"] = callback_url
        if replay:
            body["replay"] = True
        return _job_answer(*self._call("POST", "/jobs", json=body))

    def replay(
        self, provider: str, job_id: str, *, deadline_seconds: float | None = None
    ) -> JobAnswer:
        """POST /jobs with "replay": true: a job that ended otherwise than succeeded runs again."""
        return self.submit(provider, job_id, deadline_seconds=deadline_seconds, replay=True)

    def status(self, provider: str, job_id: str, *, timeout: float | None = None) -> JobAnswer:
        """GET /jobs/{provider}/{job_id}."""
        return _job_answer(*self._call("GET", _job_path(provider, job_id), timeout=timeout))

    def cancel(self, provider: str, job_id: str, reason: str | None = None) -> JobAnswer:
        """POST /jobs/{provider}/{job_id}/cancel. Conflict when the job settled otherwise."""
        body = {} if reason is None else {"reason": reason}
        return _job_answer(*self._call("POST", f"{_job_path(provider, job_id)}/cancel", json=body))

    def wait(
        self,
        provider: str,
        job_id: str,
        *,
        timeout: float | None = None,
        interval: float = 0.5,
        max_interval: float = 10.0,
        on_change: Callable[[JobAnswer], None] | None = None,
    ) -> JobAnswer:
        """Check the job until it is settled and return that answer; on_change sees the first
        answer and every one whose state differs from the one before. Checks start `interval`
        apart and grow to `max_interval`. Once the job was seen, a few transient errors in a
        row (connection, 429, 5xx) are waited out. WaitTimedOut after `timeout` seconds."""
        give_up_at = None if timeout is None else time.monotonic() + timeout
        last: JobAnswer | None = None
        failures = 0
        delay = interval
        while True:
            remaining = None if give_up_at is None else give_up_at - time.monotonic()
            try:
                answer = self.status(
                    provider, job_id, timeout=None if remaining is None else max(remaining, 0.1)
                )
            except ClientError as exc:
                failures += 1
                if last is None or not is_transient(exc) or failures > MAX_WAIT_FAILURES:
                    raise
            else:
                failures = 0
                if on_change is not None and (last is None or answer.state != last.state):
                    on_change(answer)
                last = answer
                if answer.settled:
                    return answer
            if give_up_at is not None:
                remaining = give_up_at - time.monotonic()
                if remaining <= 0:
                    state = last.state if last is not None else "unknown"
                    raise WaitTimedOut(
                        f"gave up waiting for {provider}/{job_id} after {timeout:g} s; "
                        f"it is still {state}",
                        last=last,
                    )
                time.sleep(min(delay, remaining))
            else:
                time.sleep(delay)
            delay = min(delay * 1.5, max_interval)

    def list_page(
        self, provider: str | None = None, limit: int | None = None, page_token: str | None = None
    ) -> JobPage:
        """One page of GET /jobs?state=pending (the jobs in flight)."""
        params: dict[str, str] = {"state": "pending"}
        if provider is not None:
            params["provider"] = provider
        if limit is not None:
            params["limit"] = str(limit)
        if page_token is not None:
            params["page_token"] = page_token
        _, body = self._call("GET", "/jobs", params=params)
        jobs = body.get("jobs")
        if not isinstance(jobs, list):
            raise UnexpectedAnswer(f"GET /jobs answered without a list of jobs: {_clip(body)}")
        token = body.get("next_page_token")
        return JobPage(
            jobs=tuple(_pending_job(entry) for entry in jobs if isinstance(entry, dict)),
            next_page_token=token if isinstance(token, str) and token else None,
            raw=body,
        )

    def list(self, provider: str | None = None, limit: int | None = None) -> Iterator[PendingJob]:
        """Every job in flight, page after page (`limit` is the page size)."""
        for page in self.pages(provider, limit):
            yield from page.jobs

    def pages(self, provider: str | None = None, limit: int | None = None) -> Iterator[JobPage]:
        """Every page of the jobs in flight, following next_page_token to the end."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_page(provider, limit, token)
            yield page
            token = page.next_page_token
            if token is None:
                return
            if token in seen:
                raise UnexpectedAnswer(f"GET /jobs handed out page token {token!r} twice")
            seen.add(token)

    # -- one request -------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One request; the answer's status and JSON object, or the ClientError it means."""
        headers = {"Accept": "application/json", "User-Agent": "jobcourier-client"}
        if self.sends_token:
            headers["Authorization"] = f"Bearer {self._tokens(self.url)}"
        limit = self._timeout if timeout is None else min(timeout, self._timeout)
        try:
            response = self._session.request(
                method,
                self.url + path,
                json=json,
                params=params,
                headers=headers,
                timeout=limit,
                # A redirect is not part of the contract, and would carry the token elsewhere.
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ConnectionFailed(
                f"cannot reach {self.url}: {_reason(exc, limit)}", status=None
            ) from exc
        body = _json_object(response)
        status = response.status_code
        if status >= 400:
            raise _http_error(method, path, response, body)
        if not 200 <= status < 300:
            where = response.headers.get("Location", "")
            raise UnexpectedAnswer(
                f"{method} {path} answered {status}"
                + (f" (redirect to {_clip(where)}: give that URL?)" if where else ""),
                status=status,
            )
        if body is None:
            raise UnexpectedAnswer(
                f"{method} {path} answered {status} without a JSON object: {_clip(response.text)}",
                status=status,
            )
        return status, body


# -- reading answers -------------------------------------------------------------------------
def _job_answer(status: int, body: Mapping[str, Any]) -> JobAnswer:
    manifest = _manifest(body.get("manifest"))
    state = _text(body.get("state")) or (manifest.state if manifest else None) or "unknown"
    return JobAnswer(
        http_status=status,
        state=state,
        manifest=manifest,
        submitted_at=_text(body.get("submitted_at")),
        deadline_at=_text(body.get("deadline_at")),
        duplicate=body.get("duplicate") is True,
        replayed=body.get("replayed") is True,
        raw=body,
    )


def _manifest(value: Any) -> Manifest | None:
    if not isinstance(value, dict):
        return None
    files = value.get("files")
    error = value.get("error")
    labels = value.get("labels")
    return Manifest(
        provider=_text(value.get("provider")),
        job_id=_text(value.get("job_id")),
        state=_text(value.get("state")) or "unknown",
        submitted_at=_text(value.get("submitted_at")),
        settled_at=_text(value.get("settled_at")),
        checks=_int(value.get("checks")),
        files=tuple(_file(f) for f in files if isinstance(f, dict))
        if isinstance(files, list)
        else (),
        error=JobError(
            code=_text(error.get("code")) or "unknown", message=_text(error.get("message")) or ""
        )
        if isinstance(error, dict)
        else None,
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def _file(value: Mapping[str, Any]) -> StoredFile:
    return StoredFile(
        name=_text(value.get("name")) or "?",
        uri=_text(value.get("uri")),
        size=_int(value.get("size")),
        content_type=_text(value.get("content_type")),
        crc32c=_text(value.get("crc32c")),
        md5=_text(value.get("md5")),
        source=_text(value.get("source")),
    )


def _pending_job(value: Mapping[str, Any]) -> PendingJob:
    return PendingJob(
        provider=_text(value.get("provider")),
        job_id=_text(value.get("job_id")),
        state=_text(value.get("state")) or "unknown",
        submitted_at=_text(value.get("submitted_at")),
        deadline_at=_text(value.get("deadline_at")),
        checks=_int(value.get("checks")),
        last_status=_text(value.get("last_status")),
        next_check_at=_text(value.get("next_check_at")),
        raw=value,
    )


def _text(value: Any) -> str | None:
    """A JSON scalar as text (SellerPic ids may be integers); None for null or structures."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) else None


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def is_transient(error: ClientError) -> bool:
    """The one place that says which failures are worth another try: no answer, 429, 5xx."""
    if isinstance(error, ConnectionFailed):
        return True
    return isinstance(error, HttpError) and (error.status == 429 or (error.status or 0) >= 500)


def _http_error(
    method: str, path: str, response: requests.Response, body: dict[str, Any] | None
) -> HttpError:
    status = response.status_code
    said = body.get("error") if body is not None else None
    if isinstance(said, str) and said:
        detail = said
    else:
        detail = f"{method} {path} answered {status} {response.reason or ''}".rstrip()
        text = " ".join(response.text.split())
        if text:
            detail += f": {text}"
    if status in (401, 403):
        detail += (
            " (the function refused the caller: the account needs permission to invoke it, "
            "and the ID token's audience must be the function's URL)"
        )
    kind = {404: NotFound, 409: Conflict}.get(status, HttpError)
    return kind(_clip(detail, _ERROR_TEXT_CHARS), status=status, body=body)


def _reason(exc: requests.RequestException, timeout: float) -> str:
    """What went wrong, in a few words, without the library's nested reprs."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not resolved"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return exc.__class__.__name__


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (urllib3 nests causes in args and .reason)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += list(current.args)
        pending += [n for n in nested if isinstance(n, BaseException)]


def _base_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and not (parts.query or parts.fragment) and parts.port != 0
    except ValueError:  # a bracket left open, a port that is no port
        usable = False
    if not usable:
        raise UsageError(
            f"the function URL must look like https://HOST[/PATH]. Found: {_clip(url)}"
        )
    return url.rstrip("/")


def _job_path(provider: str, job_id: str) -> str:
    return f"/jobs/{quote(provider, safe='')}/{quote(job_id, safe='')}"


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _clip(value: Any, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
