"""A total deadline for one outbound HTTP call, kept inside every read.

Socket timeouts bound each read, not a call: a server that sends a byte every 0.9 s never
meets a 60 s read timeout. A `Deadline` shuts the call's sockets down when it passes, from a
timer thread, so that whatever the call is blocked in (TLS, the answer's head, its body) ends
at once, and the edge turns the broken read into a transient error. Each socket is watched
through its own duplicate descriptor: it stays valid when TLS takes the socket over, and is
never a number the system has since given to another socket.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

from urllib3.connection import HTTPConnection


class Deadline:
    _current: ContextVar[Deadline | None] = ContextVar("deadline", default=None)

    def __init__(self, at: float | None) -> None:
        self.at = at  # a time.monotonic() value; None: no deadline
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._expired = False
        self._closed = False
        self._timer: threading.Timer | None = None
        if at is not None:
            self._timer = threading.Timer(max(at - time.monotonic(), 0.0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    @classmethod
    @contextmanager
    def until(cls, at: float | None) -> Iterator[Deadline]:
        """Calls made inside, over connections made by `watched` classes, end by `at`."""
        deadline = cls(at)
        token = cls._current.set(deadline)
        try:
            yield deadline
        finally:
            cls._current.reset(token)
            deadline._close()

    @classmethod
    def watch(cls, sock: socket.socket) -> None:
        """Shut `sock` down when the current deadline passes (at once if it has)."""
        deadline = cls._current.get()
        if deadline is None or deadline.at is None:
            return
        watcher = socket.socket(sock.family, sock.type, sock.proto, os.dup(sock.fileno()))
        with deadline._lock:
            if deadline._closed:
                watcher.close()
                return
            deadline._watched.append(watcher)
            if deadline._expired:
                _shut(watcher)

    def passed(self) -> bool:
        return self.at is not None and (self._expired or time.monotonic() >= self.at)

    def timeout(self, usual: tuple[float, float]) -> tuple[float, float]:
        """The (connect, read) socket timeouts for the next request: `usual`, but never
        longer than the time left."""
        if self.at is None:
            return usual
        left = max(self.at - time.monotonic(), 0.001)
        return (min(usual[0], left), min(usual[1], left))

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._expired = True
            for watcher in self._watched:
                _shut(watcher)

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed = True
            for watcher in self._watched:
                watcher.close()
            self._watched.clear()


def _shut(watcher: socket.socket) -> None:
    with suppress(OSError):  # closed, or never connected: nothing waits on it
        watcher.shutdown(socket.SHUT_RDWR)


Connection = TypeVar("Connection", bound=HTTPConnection)


def watched(base: type[Connection]) -> type[Connection]:
    """`base`, its sockets shut down when the deadline of the call using them passes: a new
    socket when it is made, a pooled one when a request is sent over it."""

    class DeadlineWatched(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            sock: socket.socket = super()._new_conn()
            Deadline.watch(sock)
            return sock

        def request(self, *args: Any, **kwargs: Any) -> None:
            if self.sock is not None:
                Deadline.watch(self.sock)
            super().request(*args, **kwargs)

    return DeadlineWatched
