"""A fake provider: a werkzeug app on 127.0.0.1 in a thread, plus the result files it serves."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[..., Response]


def png_bytes(seed: str, size: int = 2048) -> bytes:
    """Deterministic bytes that start like a PNG (enough for a content check)."""
    body = bytearray(b"\x89PNG\r\n\x1a\n")
    counter = 0
    while len(body) < size:
        body += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(body[:size])


@dataclass(frozen=True)
class Call:
    at: float  # time.monotonic()
    path: str
    args: dict[str, str]


@dataclass
class ServedFile:
    content_type: str
    data: bytes = b""
    # A large file is produced in chunks on the fly, never held whole.
    size: int | None = None
    seed: str = ""
    failures: list[int] = field(default_factory=list)  # HTTP statuses served first
    # Then, GET by GET: hang up after this many bytes while Content-Length says the whole
    # length (a truncated body); once the list is spent, every GET is served whole...
    cuts: list[int] = field(default_factory=list)
    # ... unless this is set: every GET hangs up after this many bytes (never served whole).
    cut_forever: int | None = None
    # How the body goes out: in pieces of chunk_bytes, each after a pause of chunk_delay_s
    # (a slow server, or a trickle with small pieces and long pauses).
    chunk_bytes: int = 1024 * 1024
    chunk_delay_s: float = 0.0
    # Bytes sent so far, one entry per GET that got a body (updated while it is being sent).
    sent: list[int] = field(default_factory=list)

    def chunks(self) -> Iterator[bytes]:
        if self.size is None:
            yield self.data
            return
        block = hashlib.sha256(self.seed.encode()).digest() * 32768  # 1 MiB
        left = self.size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)

    @property
    def length(self) -> int:
        return len(self.data) if self.size is None else self.size

    def body(self) -> Iterator[bytes]:
        """One GET's body as the server sends it: paced, and cut short when scripted."""
        limit = self.cuts.pop(0) if self.cuts else self.cut_forever
        limit = self.length if limit is None else min(limit, self.length)
        self.sent.append(0)
        get = len(self.sent) - 1
        pending, at = b"", 0  # read from the source, and how much of it went out
        source = self.chunks()
        while self.sent[get] < limit:
            if at == len(pending):
                pending, at = next(source, b""), 0
                if not pending:
                    return
            piece = pending[at : at + min(self.chunk_bytes, limit - self.sent[get])]
            at += len(piece)
            if self.chunk_delay_s:
                time.sleep(self.chunk_delay_s)
            yield piece
            self.sent[get] += len(piece)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


class FakeServer:
    """Subclasses add status routes; files live under /files/<name> on every fake."""

    api_key = "test-key"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.files: dict[str, ServedFile] = {}
        self.file_gets: list[str] = []
        self._lock = threading.Lock()
        self._rules = Map(
            [
                Rule("/files/<path:name>", endpoint="file"),
                Rule("/redirect", endpoint="redirect"),  # for tests of redirect checks
                *self.rules(),
            ]
        )
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def rules(self) -> list[Rule]:
        return []

    def serve_file(self, name: str, served: ServedFile) -> str:
        self.files[name] = served
        return f"{self.url}/files/{name}"

    def status_calls(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _wsgi(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        adapter = self._rules.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except Exception as exc:  # werkzeug's NotFound/MethodNotAllowed are responses
            return exc(environ, start_response)  # type: ignore[operator]
        if endpoint == "file":
            response = self._file(request, values["name"])
        elif endpoint == "redirect":
            to = request.args.get("to", "/")
            response = Response(
                status=302, headers={"Location": request.url if to == "self" else to}
            )
        else:
            with self._lock:
                self.calls.append(Call(time.monotonic(), request.path, dict(request.args)))
            response = getattr(self, endpoint)(request, **values)
        return response(environ, start_response)

    def _file(self, request: Request, name: str) -> Response:
        self.file_gets.append(name)
        served = self.files.get(name)
        if served is None:
            return Response("no such file", status=404)
        if served.failures:
            return Response("failing on purpose", status=served.failures.pop(0))
        # The server closes each connection after its answer, so a body cut short ends
        # before Content-Length says it should: the client sees a truncated download.
        response = Response(
            served.body(), content_type=served.content_type, direct_passthrough=True
        )
        response.headers["Content-Length"] = str(served.length)
        return response

    def bearer_ok(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"


Scripted = list[tuple[int, dict[str, str]]]  # (HTTP status, headers) answers to serve first


def scripted_error(errors: Scripted) -> Response | None:
    """The next scripted failure (5xx, 429 with Retry-After ...), if any is left."""
    if not errors:
        return None
    status, headers = errors.pop(0)
    return Response("failing on purpose", status=status, headers=headers)
