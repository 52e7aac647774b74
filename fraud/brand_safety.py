"""Brand safety: the exchange's and each publisher's blocklists, applied to every bid.

On top of what a request itself blocks (``badv``, ``bcat``), the operator keeps lists the
SSPs cannot forget to send: advertiser domains and content categories refused for every
request, and more per publisher (by publisher id). A bid that breaks one is dropped with
the same loss reasons as the request's own blocks (205 advertiser, 209 category;
``openrtb.bid_rules``).

Categories are compared across taxonomies (``fraud.taxonomy``): a bid's categories are
widened with their IAB 1.0 tier-1 parents and their equivalents in Content Taxonomy 1.0
and 2.0, so a list written in 1.0 codes (``IAB25``, ``IAB7-39``) also refuses a bid that
says ``cattax: 2, cat: ["307"]``. File (``RTB_BRAND_SAFETY_FILE``)::

    {"badv": ["casino.example"], "bcat": ["IAB25", "IAB26", "IAB7-39"],
     "publishers": {"pub-8953": {"badv": ["rival.example"], "bcat": ["IAB8-5"]}}}
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fraud.taxonomy import Taxonomy
from openrtb.request import BidRequest

__all__ = ["Blocks", "BrandSafety"]


@dataclass(frozen=True, slots=True)
class Blocks:
    """Advertiser domains (lower case) and categories refused."""

    badv: frozenset[str] = frozenset()
    bcat: frozenset[str] = frozenset()

    @classmethod
    def of(cls, badv: Iterable[str] = (), bcat: Iterable[str] = ()) -> "Blocks":
        """Blocks from configured lists (domains compared in lower case)."""
        return cls(frozenset(d.strip().lower() for d in badv), frozenset(c.strip() for c in bcat))

    def __or__(self, other: "Blocks") -> "Blocks":
        return Blocks(self.badv | other.badv, self.bcat | other.bcat)


@dataclass(frozen=True, slots=True)
class BrandSafety:
    """The exchange's blocks, each publisher's, and the taxonomy bridge for categories."""

    exchange: Blocks = Blocks()
    publishers: Mapping[str, Blocks] = field(default_factory=dict)
    taxonomy: Taxonomy = field(default_factory=Taxonomy.load)

    @classmethod
    def build(
        cls, badv: Iterable[str] = (), bcat: Iterable[str] = (), file: Path | None = None
    ) -> "BrandSafety":
        """From settings' lists and an optional file; ValueError naming what is wrong."""
        exchange = Blocks.of(badv, bcat)
        publishers: dict[str, Blocks] = {}
        if file is not None:
            data = orjson.loads(file.read_bytes())
            if not isinstance(data, dict):
                raise ValueError(f"{file}: expected an object with badv, bcat, publishers")
            exchange = exchange | Blocks.of(_strings(data, "badv"), _strings(data, "bcat"))
            for pub_id, entry in (data.get("publishers") or {}).items():
                if not isinstance(entry, dict):
                    raise ValueError(f"{file}: publishers.{pub_id} must be an object")
                where = f"publishers.{pub_id}"
                publishers[pub_id] = Blocks.of(
                    _strings(entry, "badv", where), _strings(entry, "bcat", where)
                )
        return cls(exchange, publishers)

    @property
    def empty(self) -> bool:
        """Whether nothing is blocked beyond what requests say (then bids are not widened)."""
        return not (self.exchange.badv or self.exchange.bcat or self.publishers)

    def blocks(self, request: BidRequest) -> Blocks:
        """What the exchange and the request's publisher refuse for this request."""
        inventory = request.site or request.app or request.dooh
        publisher = inventory.publisher if inventory is not None else None
        extra = self.publishers.get(publisher.id) if publisher and publisher.id else None
        return self.exchange if extra is None else self.exchange | extra


def _strings(data: Mapping[str, Any], key: str, where: str = "") -> list[str]:
    values = data.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{where + '.' if where else ''}{key}: expected a list of strings")
    return values
