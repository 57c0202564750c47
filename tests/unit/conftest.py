from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_function import FakeFunction


@pytest.fixture
def fake() -> Iterator[FakeFunction]:
    """A stand-in function on 127.0.0.1, stopped after the test."""
    server = FakeFunction()
    try:
        yield server
    finally:
        server.stop()
