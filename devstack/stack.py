"""The whole loop on this machine: GCS emulator, Cloud Tasks emulator, fake providers and the
function under functions-framework, each on a free loopback port, all stopped by stop()."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from devstack.fakes import FAKES, FakesByName
from devstack.fakes.server import FakeServer
from devstack.gcs_emulator import GcsEmulator
from devstack.processes import ROOT, Process, free_port, port_open
from devstack.receiver import CallbackReceiver
from devstack.tasks_emulator import TasksEmulator

PROJECT_QUEUES = "projects/local-project/locations/local/queues"
DEFAULT_QUEUE = f"{PROJECT_QUEUES}/jobcourier-poll"
PROVIDER_QUEUES = {p: f"{PROJECT_QUEUES}/jobcourier-{p}" for p in FAKES}
BUCKET = "jobcourier-results"
WEBHOOK_TOKEN = "local-webhook-token-0123456789"  # noqa: S105 - a local stack's made-up token
# A local stack's made-up callback signing secret: whsec_ + base64 of 32 bytes.
CALLBACK_SECRET = "whsec_" + base64.b64encode(b"local callback secret, 32 bytes").decode()


class Stack(FakesByName):
    def __init__(
        self,
        *,
        delay_scale: float = 0.02,
        log_dir: Path | None = None,
        persistent_gcs: bool = False,
    ) -> None:
        """`persistent_gcs`: the GCS emulator keeps its objects in files (under log_dir), so
        that `gcs.kill()` and `gcs.restart()` make an outage that loses nothing written."""
        self._tmp = None if log_dir else tempfile.TemporaryDirectory(prefix="jobcourier-")
        self.log_dir = log_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.delay_scale = delay_scale
        self._persistent_gcs = persistent_gcs
        self._started: list[Any] = []
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        persist_dir = self.log_dir / "gcs-data" if self._persistent_gcs else None
        self.gcs = GcsEmulator(self.log_dir, persist_dir=persist_dir)
        self._started.append(self.gcs)
        self._outer_emulator_host = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = self.gcs.url  # for this process's own client
        from google.cloud import storage

        storage.Client().create_bucket(BUCKET)
        self.receiver = CallbackReceiver(CALLBACK_SECRET)
        self._started.append(self.receiver)
        self.fakes: dict[str, FakeServer] = {}
        for name, kind in FAKES.items():
            self.fakes[name] = kind()
            self._started.append(self.fakes[name])
        self.tasks = TasksEmulator([DEFAULT_QUEUE, *PROVIDER_QUEUES.values()], self.log_dir)
        self._started.append(self.tasks)
        self.function_port = free_port()
        self.url = f"http://127.0.0.1:{self.function_port}"
        self.function = self._start_function("function")
        self._started.append(self)  # stops whichever function process runs last
        # As deployed: the same source a second time, public, serving webhooks only.
        self.webhooks_port = free_port()
        self.webhooks_url = f"http://127.0.0.1:{self.webhooks_port}"
        self.webhooks = self._start_function(
            "webhooks",
            port=self.webhooks_port,
            extra_env={"JOBCOURIER_WEBHOOKS_ONLY": "1", "JOBCOURIER_WEBHOOK_TOKEN": WEBHOOK_TOKEN},
        )
        self._started.append(self.webhooks)

    def _start_function(
        self, name: str, *, port: int | None = None, extra_env: dict[str, str] | None = None
    ) -> Process:
        port = port or self.function_port
        return Process(
            name,
            [
                _functions_framework(),
                "--source",
                str(ROOT / "functions" / "main.py"),
                "--target",
                "jobcourier",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            log_dir=self.log_dir,
            env={**os.environ, **self.function_env(), **(extra_env or {})},
            ready=lambda: port_open(port),
        )

    def events(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """The log events every function process of this stack has written so far (one JSON
        object a line, as Cloud Logging reads them), of one job or all."""
        found = []
        for log in sorted(self.log_dir.glob("function*.log")) + [self.log_dir / "webhooks.log"]:
            for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
                if not line.startswith("{"):
                    continue  # the server's own lines
                entry = json.loads(line)
                if "event" in entry and job_id in (None, entry.get("job_id")):
                    found.append(entry)
        return found

    def kill_function(self) -> None:
        """Stop the function at once, as a crashed instance stops."""
        self.function.kill()

    def restart_function(self) -> None:
        """A new instance on the same URL: no memory, no clients, as after a cold start."""
        self.function = self._start_function(f"function-{time.monotonic_ns()}")

    def function_env(self) -> dict[str, str]:
        return {
            "JOBCOURIER_BUCKET": BUCKET,
            "JOBCOURIER_QUEUE": DEFAULT_QUEUE,
            **{f"JOBCOURIER_QUEUE_{p.upper()}": q for p, q in PROVIDER_QUEUES.items()},
            "JOBCOURIER_SELF_URL": f"http://127.0.0.1:{self.function_port}",
            "JOBCOURIER_DELAY_SCALE": str(self.delay_scale),
            "JOBCOURIER_ALLOW_PRIVATE_URLS": "1",
            "JOBCOURIER_CALLBACK_SECRET": CALLBACK_SECRET,
            "STORAGE_EMULATOR_HOST": self.gcs.url,
            "CLOUD_TASKS_EMULATOR_HOST": self.tasks.host,
            **provider_env(self.fakes),
        }

    def submit(self, provider: str, job_id: str | int, **extra: Any) -> requests.Response:
        body = {"provider": provider, "job_id": job_id, **extra}
        return requests.post(f"{self.url}/jobs", json=body, timeout=10)

    def webhook(
        self, provider: str, body: dict[str, Any], token: str = WEBHOOK_TOKEN
    ) -> requests.Response:
        """A provider's callback, to the public webhook function, as configured upstream."""
        return requests.post(
            f"{self.webhooks_url}/webhooks/{provider}",
            params={"token": token},
            json=body,
            timeout=10,
        )

    def job(self, provider: str, job_id: str) -> requests.Response:
        return requests.get(f"{self.url}/jobs/{provider}/{job_id}", timeout=10)

    def wait_settled(self, provider: str, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            answer = self.job(provider, job_id)
            if answer.status_code == 200 and answer.json()["manifest"] is not None:
                return dict(answer.json()["manifest"])
            time.sleep(0.2)
        raise TimeoutError(
            f"{provider}/{job_id} not settled after {timeout_s} s:\n{self.function.tail()}"
        )

    def stop(self) -> None:
        while self._started:
            item = self._started.pop()
            if item is self:
                self.function.stop()
            else:
                item.stop()
        if hasattr(self, "_outer_emulator_host"):
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
            if self._outer_emulator_host is not None:
                os.environ["STORAGE_EMULATOR_HOST"] = self._outer_emulator_host
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def provider_env(fakes: dict[str, Any]) -> dict[str, str]:
    """Each provider's key and base URL, pointing at its fake."""
    env = {}
    for name, fake in fakes.items():
        env[f"{name.upper()}_API_KEY"] = fake.api_key
        env[f"{name.upper()}_BASE_URL"] = fake.url
    return env


def _functions_framework() -> str:
    beside = Path(sys.executable).with_name("functions-framework")
    found = str(beside) if beside.exists() else shutil.which("functions-framework")
    if not found:
        raise RuntimeError("functions-framework is not installed in this environment")
    return found
