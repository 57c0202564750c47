"""Start a server process, wait until it answers, stop it and its children for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A child in its own process group, with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        ready: Callable[[], bool],
        timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self._popen = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self._popen.poll() is not None:
                self.stop()
                raise RuntimeError(f"{name} exited with {self._popen.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} not ready after {timeout_s} s: {self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def peak_rss_kib(self) -> int | None:
        """The largest peak resident set size (VmHWM) among the live processes of this child's
        group (functions-framework serves from a gunicorn worker it forks), from /proc; None
        where /proc cannot tell."""
        peaks = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # the command may hold spaces: the fields after its closing parenthesis
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) != self._popen.pid:  # the process group
                    continue
                status = stat.with_name("status").read_text()
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile, or not ours to read
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        return max(peaks, default=None)

    def kill(self) -> None:
        """SIGKILL the whole group: no clean shutdown, as when an instance dies."""
        if self._popen.poll() is None:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait()
        self._log.close()

    def stop(self) -> None:
        if self._popen.poll() is None:
            try:
                os.killpg(self._popen.pid, signal.SIGTERM)
                self._popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait()
            except ProcessLookupError:
                pass
        self._log.close()
