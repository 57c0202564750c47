"""Total deadlines on outbound calls, against a real server on 127.0.0.1 that trickles its
answers a byte at a time, each byte well inside any socket timeout. The deadlines are scaled
down to a second; the servers would trickle for eight."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from jobcourier.edges.http import RequestsProviderApi, SafeDownloader, new_session
from jobcourier.errors import DownloadTransient, ProviderTransient

DEADLINE_S = 1.0
SLACK_S = 3.0  # far more than a busy machine needs; the trickles take 8 s
STEP_S = 0.1  # a byte every 0.1 s: no read ever waits long enough to time out


@dataclass
class Answer:
    """One HTTP answer: its head, its body, and which of them trickle."""

    head: bytes
    body: bytes = b""
    trickle_head: bool = False
    trickle_body: bool = False
    close: bool = True


def answer(body: bytes, *, length: bool = True, **how: bool) -> Answer:
    headers = [b"HTTP/1.1 200 OK", b"Content-Type: application/json"]
    headers.append(b"Content-Length: %d" % len(body) if length else b"Connection: close")
    return Answer(b"\r\n".join(headers) + b"\r\n\r\n", body, **how)


class TrickleServer:
    """Serves the scripted answers in order, one per request, over keep-alive connections
    unless an answer says close."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as requests_in:
            try:
                while self.answers:
                    while requests_in.readline() not in (b"\r\n", b""):
                        pass  # the request's head; these requests have no body
                    current = self.answers.pop(0)
                    self._send(conn, current.head, current.trickle_head)
                    self._send(conn, current.body, current.trickle_body)
                    if current.close:
                        return
            except OSError:
                return  # the client gave up and shut the connection

    @staticmethod
    def _send(conn: socket.socket, data: bytes, trickle: bool) -> None:
        if not trickle:
            conn.sendall(data)
            return
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            time.sleep(STEP_S)


@pytest.fixture
def serve() -> Iterator[list[TrickleServer]]:
    servers: list[TrickleServer] = []
    yield servers
    for server in servers:
        server.stop()


def start(serve: list[TrickleServer], *answers: Answer) -> TrickleServer:
    serve.append(TrickleServer(list(answers)))
    return serve[-1]


def status_api(server: TrickleServer) -> RequestsProviderApi:
    return RequestsProviderApi(new_session(), server.url, {}, deadline_s=DEADLINE_S)


SLOW_BODY = b'{"status": "processing", "pad": "' + b"x" * 40 + b'"}'  # 80 bytes: 8 s


@pytest.mark.parametrize(
    "trickled",
    [
        answer(SLOW_BODY, trickle_body=True),
        answer(SLOW_BODY, length=False, trickle_body=True),
        answer(b"{}", trickle_head=True),
    ],
    ids=["body", "body-without-length", "head"],
)
def test_a_trickled_status_answer_ends_at_the_calls_deadline(serve, trickled):
    """'Timeouts apply per socket read ... A status answer that trickled one byte a second
    took 75 s.'"""
    server = start(serve, trickled)
    started = time.monotonic()
    with pytest.raises(ProviderTransient, match="within 1 s"):
        status_api(server).get("/status", {})
    assert time.monotonic() - started < DEADLINE_S + SLACK_S


def test_a_pooled_connection_keeps_the_next_calls_deadline(serve):
    """The second call reuses the first one's connection, and still ends at its deadline."""
    server = start(serve, answer(b"{}", close=False), answer(SLOW_BODY, trickle_body=True))
    api = status_api(server)
    assert api.get("/status", {}).body == b"{}"
    started = time.monotonic()
    with pytest.raises(ProviderTransient, match="within 1 s"):
        api.get("/status", {})
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert server.connections == 1


def test_an_answer_that_comes_in_time_is_read_whole(serve):
    server = start(serve, answer(b'{"status": "ok"}', trickle_body=True))
    api = RequestsProviderApi(new_session(), server.url, {}, deadline_s=30.0)
    assert api.get("/status", {}).json() == {"status": "ok"}


@pytest.mark.parametrize("length", [True, False], ids=["with-length", "without-length"])
def test_a_trickled_download_ends_at_its_deadline_inside_the_read(serve, length):
    """'The copy cut-off is checked only between 1 MiB chunks ... A trickled download ran far
    past the cut-off.' Without a length, the shut socket must not pass for the file's end."""
    server = start(serve, answer(b"\x89PNG" + b"x" * 76, length=length, trickle_body=True))
    started = time.monotonic()
    chunks: list[bytes] = []
    with (
        pytest.raises(DownloadTransient, match="deadline"),
        SafeDownloader(allow_private=True).open(
            f"{server.url}/files/00.png", time.monotonic() + DEADLINE_S
        ) as download,
    ):
        chunks.extend(download.chunks)
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert chunks == []  # nothing was handed on as if it were the whole file


def test_a_download_whose_head_trickles_ends_at_its_deadline(serve):
    server = start(serve, answer(b"x", trickle_head=True))
    started = time.monotonic()
    with (
        pytest.raises(DownloadTransient, match="deadline"),
        SafeDownloader(allow_private=True).open(
            f"{server.url}/files/00.png", time.monotonic() + DEADLINE_S
        ),
    ):
        pass
    assert time.monotonic() - started < DEADLINE_S + SLACK_S


def test_a_download_that_comes_in_time_is_whole(serve):
    server = start(serve, answer(b"\x89PNG12", length=False, trickle_body=True))
    downloader = SafeDownloader(allow_private=True)
    with downloader.open(f"{server.url}/files/00.png", time.monotonic() + 30) as download:
        assert b"".join(download.chunks) == b"\x89PNG12"


@pytest.mark.parametrize("trickle", ["head", "body"])
def test_a_trickled_callback_answer_ends_at_the_callbacks_deadline(serve, monkeypatch, trickle):
    """A caller's endpoint that answers a byte at a time cannot hold an invocation."""
    from datetime import timedelta

    from jobcourier.edges import http
    from jobcourier.errors import DownloadTransient

    monkeypatch.setattr(http, "CALLBACK_DEADLINE", timedelta(seconds=DEADLINE_S))
    slow = answer(SLOW_BODY, trickle_head=trickle == "head", trickle_body=trickle == "body")
    server = start(serve, slow)
    started = time.monotonic()
    with pytest.raises(DownloadTransient, match="callback to 127.0.0.1"):
        http.SafeDownloader(allow_private=True).post(f"{server.url}/hook", b"{}", {})
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
