"""Who may sell through the exchange, and whether the supply chain says who did.

Sellers (no-bid reason 7, blocked publisher or site): the exchange's own ``sellers.json``
(IAB Tech Lab Sellers.json 1.0: ``{"sellers": [{"seller_id", "seller_type", "domain",
…}]}``) lists every account it pays. The exchange's node in the supply chain names the
request's publisher id as its ``sid`` (``exchange.core``), so that id must be a listed
``seller_id``; a ``PUBLISHER`` entry with a ``domain`` also ties the account to its
inventory: the site's (or app's, or publisher's) domain must be that domain or under it.

Supply chain (SupplyChain object 1.0, ``source.schain``, or ``source.ext.schain`` the 2.5
way): incomplete (reason 16) when missing, ``complete`` is not 1, or a node lacks ``asi``
or ``sid``; a node whose ``asi`` is on the blocked list gives reason 17.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from openrtb.enums import NoBidReason
from openrtb.request import BidRequest, SupplyChain

_PUBLISHER = "PUBLISHER"


@dataclass(frozen=True, slots=True)
class Seller:
    """One sellers.json entry, as far as the checks need it."""

    seller_id: str
    seller_type: str
    domain: str | None


class SellersDirectory:
    """The authorised sellers, by ``seller_id``."""

    def __init__(self, sellers: Iterable[Seller]) -> None:
        self._by_id = {seller.seller_id: seller for seller in sellers}

    def __len__(self) -> int:
        return len(self._by_id)

    @classmethod
    def load(cls, path: Path) -> "SellersDirectory":
        """The sellers of a sellers.json file; ValueError naming the entry that is wrong."""
        data = orjson.loads(path.read_bytes())
        return cls(_sellers(data))

    def problem(self, request: BidRequest) -> str | None:
        """Why the request's seller is not authorised, if it is not."""
        inventory = request.site or request.app or request.dooh
        publisher = inventory.publisher if inventory is not None else None
        seller_id = publisher.id if publisher is not None else None
        if seller_id is None:
            return "no publisher id"
        seller = self._by_id.get(seller_id)
        if seller is None:
            return f"publisher {seller_id} is not in sellers.json"
        if seller.seller_type == _PUBLISHER and seller.domain:
            domain = getattr(inventory, "domain", None) or (publisher.domain if publisher else None)
            if domain is not None and not _under(domain.lower(), seller.domain):
                return f"domain {domain} is not seller {seller_id}'s ({seller.domain})"
        return None


def _under(domain: str, owner: str) -> bool:
    return domain == owner or domain.endswith("." + owner)


def _sellers(data: Any) -> list[Seller]:
    entries = data.get("sellers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError('sellers.json: expected {"sellers": [...]}')
    found = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("seller_id"), str):
            raise ValueError(f"sellers[{index}]: seller_id (a string) is required")
        kind = str(entry.get("seller_type", "")).upper()
        if kind not in ("PUBLISHER", "INTERMEDIARY", "BOTH"):
            raise ValueError(f"sellers[{index}].seller_type: {kind!r} is not PUBLISHER, ...")
        domain = entry.get("domain")
        found.append(Seller(entry["seller_id"], kind, str(domain).lower() if domain else None))
    return found


def supply_chain(request: BidRequest) -> SupplyChain | None:
    """The request's chain, from ``source.schain`` or (2.5) ``source.ext.schain``."""
    source = request.source
    if source is None:
        return None
    if source.schain is not None:
        return source.schain
    raw = source.ext.get("schain") if isinstance(source.ext, Mapping) else None
    if raw is None:
        return None
    try:
        return SupplyChain.model_validate(raw)
    except ValidationError:
        return None


def schain_problem(
    request: BidRequest, blocked_nodes: frozenset[str]
) -> tuple[NoBidReason, str] | None:
    """The no-bid reason and why, when the chain is incomplete or has a blocked node."""
    chain = supply_chain(request)
    if chain is None:
        return NoBidReason.INCOMPLETE_SUPPLY_CHAIN, "no schain"
    for index, node in enumerate(chain.nodes):
        if node.asi.lower() in blocked_nodes:
            return NoBidReason.BLOCKED_SUPPLY_CHAIN_NODE, f"node {index} asi {node.asi} is blocked"
    if chain.complete != 1:
        return NoBidReason.INCOMPLETE_SUPPLY_CHAIN, "schain.complete is not 1"
    if not chain.nodes:
        return NoBidReason.INCOMPLETE_SUPPLY_CHAIN, "schain has no nodes"
    for index, node in enumerate(chain.nodes):
        if not node.asi or not node.sid:
            return NoBidReason.INCOMPLETE_SUPPLY_CHAIN, f"node {index} lacks asi or sid"
    return None
