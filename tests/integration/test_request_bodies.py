"""Request bodies over a real socket: the app under a real WSGI server on 127.0.0.1, sent
chunked bodies (no Content-Length), as a hostile caller would."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from jobcourier.routes import MAX_BODY_BYTES
from tests.integration.conftest import Harness

KIB = 1024
MIB = 1024 * KIB


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


class _CountingInput:
    """wsgi.input, counting the bytes the app took from it."""

    def __init__(self, stream: Any, counter: list[int]) -> None:
        self._stream = stream
        self._counter = counter

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size)
        self._counter[0] += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data: bytes = self._stream.readline(size)
        self._counter[0] += len(data)
        return data


@dataclass
class Served:
    port: int
    read: list[int]  # bytes the app read from the request body, in one-item list

    def post(
        self, path: str, chunks: Iterator[bytes], length: int | None = None
    ) -> tuple[int, int]:
        """POST with Transfer-Encoding: chunked (or a Content-Length, when given), sending
        while the answer may already come. Returns (HTTP status, bytes of body sent when the
        answer came)."""
        framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sent = [0]
        stop = threading.Event()

        def send() -> None:
            try:
                sock.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode()
                )
                for chunk in chunks:
                    if stop.is_set():
                        return
                    sock.sendall(chunk if length else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
                if length is None:
                    sock.sendall(b"0\r\n\r\n")
            except OSError:
                return  # the server answered and closed: the rest is never sent

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            answer = sock.makefile("rb").readline()
            sent_when_answered = sent[0]
        finally:
            stop.set()
            sock.shutdown(socket.SHUT_RDWR)  # wakes the sender, blocked on a full buffer
            sock.close()
            sender.join(timeout=30)
        return int(answer.split()[1]), sent_when_answered


@contextmanager
def served(harness: Harness) -> Iterator[Served]:
    app = harness.client.application
    read = [0]
    inner = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input"] = _CountingInput(environ["wsgi.input"], read)
        return inner(environ, start_response)

    app.wsgi_app = counting  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.server_port, read)
    finally:
        server.shutdown()
        server.server_close()


def padded(size: int, piece: int = 16 * KIB) -> Iterator[bytes]:
    """A valid submission of `size` bytes, in pieces: the object, then white space."""
    head = b'{"provider": "spacely", "job_id": "chunked-1"}'
    yield head
    left = size - len(head)
    while left > 0:
        yield b" " * min(piece, left)
        left -= piece


def test_a_chunked_body_over_the_cap_is_refused(harness: Harness):
    """'A chunked body without Content-Length, over 64 KiB, was accepted (202).' Its first
    64 KiB were a valid submission; the rest was never looked at."""
    with served(harness) as server:
        status, _ = server.post("/jobs", padded(70 * KIB))
        assert status == 400
        assert server.read[0] <= MAX_BODY_BYTES + 1
    assert harness.queued() == [] and harness.objects() == {}


def test_a_chunked_body_under_the_cap_is_read(harness: Harness):
    with served(harness) as server:
        body = b'{"provider": "spacely", "job_id": "chunked-2"}'
        status, _ = server.post("/jobs", iter([body[:10], body[10:]]))
        assert status == 202 and server.read[0] == len(body)


def test_a_huge_chunked_body_is_never_read_whole(harness: Harness):
    """'A 64 MiB chunked body raised the instance's memory by 64 MiB. Read at most the cap
    plus one byte, and refuse the rest.'"""
    with served(harness) as server:
        status, sent = server.post("/jobs", (b"[" * (64 * KIB) for _ in range(1024)))
        assert status == 400
        assert server.read[0] <= MAX_BODY_BYTES + 1  # of 64 MiB
        assert sent < 64 * MIB  # the answer came while the body was still being sent


def test_a_body_with_a_content_length_over_the_cap_is_not_read_at_all(harness: Harness):
    """functions-framework reads what is left of every request body after the answer, into
    memory (its after_request hook): a refused body must leave it nothing to read."""
    with served(harness) as server:
        pieces = (b" " * (64 * KIB) for _ in range(1024))
        status, sent = server.post("/jobs", pieces, length=64 * MIB)
        assert status == 400
        assert server.read[0] == 0
        assert sent < 64 * MIB
