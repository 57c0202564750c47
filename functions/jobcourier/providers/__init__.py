"""One module per provider. Adding one: write the module, list it here (see README)."""

from __future__ import annotations

from types import MappingProxyType

from jobcourier.providers import fliki, gepetto, sellerpic, spacely
from jobcourier.providers.base import Provider

REGISTRY: MappingProxyType[str, Provider] = MappingProxyType(
    {p.name: p for p in (spacely, gepetto, sellerpic, fliki)}
)
