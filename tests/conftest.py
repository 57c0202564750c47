"""Emulators shared by the integration and end-to-end tests: started once, on loopback, and
stopped by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.fakes import FAKES
from devstack.fakes.server import FakeServer


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from devstack.gcs_emulator import GcsEmulator

    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs-emulator"))
    try:
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def tasks_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from devstack.tasks_emulator import TasksEmulator

    emulator = TasksEmulator([], tmp_path_factory.mktemp("tasks-emulator"))
    try:
        yield emulator.host
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers: dict[str, FakeServer] = {}
    try:
        for name, kind in FAKES.items():
            servers[name] = kind()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
