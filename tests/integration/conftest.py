"""The real app (functions_framework.create_app) against the real GCS and Cloud Tasks
emulators, through the real google-cloud-storage and google-cloud-tasks clients.

Each test gets its own bucket and its own paused queue: the tasks it schedules stay in the
queue, where the test reads them and delivers them to the app itself."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app
from google.cloud import storage, tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack.fakes import FakesByName
from devstack.fakes.server import FakeServer
from devstack.stack import CALLBACK_SECRET, provider_env

MAIN = Path(__file__).resolve().parents[2] / "functions" / "main.py"
SELF_URL = "https://jobcourier.test"
INVOKER = "invoker@project.iam.gserviceaccount.com"


@dataclass
class Harness(FakesByName):
    client: FlaskClient
    bucket: storage.Bucket
    queue: str
    tasks: tasks_v2.CloudTasksClient
    fakes: dict[str, FakeServer]
    monkeypatch: pytest.MonkeyPatch

    def restart(self, **env: str) -> None:
        """A new instance of the function (fresh clients, memory and configuration), with
        these environment variables changed."""
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        self.client = create_app(target="jobcourier", source=str(MAIN)).test_client()

    def queued(self) -> list[tasks_v2.Task]:
        request = tasks_v2.ListTasksRequest(
            parent=self.queue, response_view=tasks_v2.Task.View.FULL
        )
        return list(self.tasks.list_tasks(request=request))

    def deliver(self, task: tasks_v2.Task, **headers: str) -> Any:
        return self.client.post(
            "/poll",
            data=task.http_request.body,
            headers={
                "Content-Type": "application/json",
                "X-CloudTasks-TaskName": task.name.rsplit("/", 1)[-1],
                **headers,
            },
        )

    def take(self) -> tasks_v2.Task:
        """The one task waiting in the queue, removed from it as a dispatch would."""
        [task] = self.queued()
        self.tasks.purge_queue(name=self.queue)  # the emulator has no DeleteTask
        return task

    def objects(self, prefix: str = "") -> dict[str, storage.Blob]:
        return {b.name: b for b in self.bucket.client.list_blobs(self.bucket, prefix=prefix)}

    def manifest(self, job_id: str, provider: str = "spacely") -> dict[str, Any]:
        blob = self.bucket.blob(f"{provider}/{job_id}/manifest.json")
        return json.loads(blob.download_as_bytes())


@pytest.fixture
def harness(
    monkeypatch: pytest.MonkeyPatch,
    gcs_emulator: str,
    tasks_emulator: str,
    fakes: dict[str, FakeServer],
) -> Iterator[Harness]:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    bucket = storage.Client().create_bucket(f"results-{uuid.uuid4().hex[:12]}")
    tasks = tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(tasks_emulator))
    )
    parent = "projects/test-project/locations/test-location"
    queue = f"{parent}/queues/q-{uuid.uuid4().hex[:12]}"
    tasks.create_queue(parent=parent, queue=tasks_v2.Queue(name=queue))
    tasks.pause_queue(name=queue)
    env = {
        "JOBCOURIER_BUCKET": bucket.name,
        "JOBCOURIER_QUEUE": queue,
        "JOBCOURIER_SELF_URL": SELF_URL,
        "JOBCOURIER_INVOKER_SA": INVOKER,
        "JOBCOURIER_DELAY_SCALE": "1",
        "JOBCOURIER_ALLOW_PRIVATE_URLS": "1",
        "JOBCOURIER_CALLBACK_SECRET": CALLBACK_SECRET,
        "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator,
        **provider_env(fakes),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(target="jobcourier", source=str(MAIN))
    yield Harness(app.test_client(), bucket, queue, tasks, fakes, monkeypatch)
