"""A request's supply path as the ``auction`` event records it: compact and bounded.

The key is the chain's nodes as ``asi:sid`` joined by ``>`` in chain order (the seller
first, the last reseller before the exchange last). Sellers are companies, not users, so
the key is no personal data (docs/privacy.md). A hostile request must not blow up the log:
at most ``MAX_NODES`` nodes are written (``>+N`` says how many more there were), each
``asi``/``sid`` cut at ``MAX_PART`` characters, and any character outside
``[A-Za-z0-9._-]`` (the separators among them) becomes ``_``.
"""

import re
from dataclasses import dataclass
from typing import Final

from openrtb.request import BidRequest, SupplyChain
from openrtb.upgrade import upgrade_source

__all__ = ["MAX_NODES", "MAX_PART", "NO_SCHAIN", "SupplyPath", "path_of", "supply_path"]

MAX_NODES: Final = 10
MAX_PART: Final = 64
NO_SCHAIN: Final = "-"
"""The key of a request without a supply chain."""

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class SupplyPath:
    """What the ``auction`` event carries of the chain."""

    key: str
    """``asi:sid>asi:sid…`` (``NO_SCHAIN`` without a chain)."""
    hops: int
    """Nodes in the chain, all of them (0 without one): 1 is a direct path."""
    complete: int | None
    """The chain's ``complete`` flag (None without a chain)."""

    def fields(self) -> dict[str, str | int | None]:
        """The event's fields: ``schain``, ``hops``, ``schain_complete``."""
        return {"schain": self.key, "hops": self.hops, "schain_complete": self.complete}


def _part(text: str) -> str:
    return _UNSAFE.sub("_", text[:MAX_PART]) or "_"


def path_of(chain: SupplyChain | None) -> SupplyPath:
    """The bounded path of ``chain``."""
    if chain is None:
        return SupplyPath(NO_SCHAIN, 0, None)
    nodes = chain.nodes
    key = ">".join(f"{_part(node.asi)}:{_part(node.sid)}" for node in nodes[:MAX_NODES])
    if len(nodes) > MAX_NODES:
        key += f">+{len(nodes) - MAX_NODES}"
    return SupplyPath(key or NO_SCHAIN, len(nodes), 1 if chain.complete == 1 else 0)


def supply_path(request: BidRequest) -> SupplyPath:
    """The path of the request as the exchange received it (2.6 ``source.schain``, or a
    2.5 ``source.ext.schain`` not yet moved: a request built in code)."""
    source = request.source
    if source is None:
        return path_of(None)
    if source.schain is None and source.ext and "schain" in source.ext:
        source = upgrade_source(source)
    return path_of(source.schain)
