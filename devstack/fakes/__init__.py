"""Fake provider servers built from the providers' documented answers, one module each.

`FAKES` lists them by provider name; the local stack and the test fixtures start one of each.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class FakesByName:
    """Typed access to a set of started fakes (`self.fakes`), for the stack and test harnesses."""

    fakes: Mapping[str, FakeServer]

    @property
    def spacely(self) -> FakeSpacely:
        return self.fakes["spacely"]  # type: ignore[return-value]

    @property
    def gepetto(self) -> FakeGepetto:
        return self.fakes["gepetto"]  # type: ignore[return-value]

    @property
    def sellerpic(self) -> FakeSellerPic:
        return self.fakes["sellerpic"]  # type: ignore[return-value]

    @property
    def fliki(self) -> FakeFliki:
        return self.fakes["fliki"]  # type: ignore[return-value]
