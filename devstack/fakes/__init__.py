"""Fake provider servers built from the providers' documented answers, one module each.

`FAKES` lists them by provider name; the local stack and the test fixtures start one of each.
"""

from __future__ import annotations

from types import MappingProxyType

from devstack.fakes.fliki import FakeFliki
from devstack.fakes.gepetto import FakeGepetto
from devstack.fakes.sellerpic import FakeSellerPic
from devstack.fakes.server import FakeServer
from devstack.fakes.spacely import FakeSpacely

FAKES: MappingProxyType[str, type[FakeServer]] = MappingProxyType(
    {
        "spacely": FakeSpacely,
        "gepetto": FakeGepetto,
        "sellerpic": FakeSellerPic,
        "fliki": FakeFliki,
    }
)
