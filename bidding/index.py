"""The campaign index: narrows a router's campaigns to candidates without scanning them all.

Three inverted indexes, built once per config, answer "which campaigns could want this
impression?" with set lookups:

* **format** — (media type, w, h) of every creative → campaigns having one (0×0: any size);
* **country** and **device type** — each allowed value → campaigns allowing it, *plus* the
  campaigns with no allow list for that dimension (the "any" bucket is merged into every
  value's set at build time, so a lookup is one dict access and no per-request union);
  a request without the fact gets the "any" bucket alone.

A request's candidate set is the intersection of the three, smallest first (CPython's
``set & set`` walks the smaller operand, so cost follows the most selective dimension).
Only survivors get the full check: ``targeting.matches`` (block lists, other dimensions,
flight, dayparting) and the creative check (size, ``badv``, ``bcat``, ``battr`` — the same
rules the exchange applies to returned bids, so a creative it would drop is never offered).

``scan`` is the same decision by brute force over every campaign; the index must return
exactly what ``scan`` returns (tested with hypothesis), and ``explain`` uses the scan to say
why each campaign did not match (debug output, not the hot path).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from bidding.campaigns import Campaign, Creative
from bidding.targeting import Dimension, FormatKey, Reason, RequestFacts, Why, matches

__all__ = ["INDEXED", "CampaignIndex", "CampaignMatch", "check", "eligible_creatives", "scan"]

INDEXED: Final = (Dimension.COUNTRY, Dimension.DEVICE_TYPE)
"""The targeting dimensions with an inverted index (besides the creative format)."""


class CampaignMatch(NamedTuple):
    """A campaign that wants the impression, and which of its creatives may serve it."""

    position: int
    """The campaign's position in the router's config (ValuationTable rows use the same)."""
    campaign: Campaign
    creatives: tuple[int, ...]
    """Positions in ``campaign.creatives`` of the creatives that fit and are not blocked."""


def _creative_ok(creative: Creative, facts: RequestFacts) -> bool:
    if creative.format_key not in facts.formats:
        return False
    if facts.badv and not facts.badv.isdisjoint(creative.adomain_lower):
        return False
    if facts.bcat and not facts.bcat.isdisjoint(creative.cat):
        return False
    if not facts.battr:
        return True
    blocked = facts.battr.get(creative.media_type)
    return not (blocked and not blocked.isdisjoint(creative.attr))


def eligible_creatives(campaign: Campaign, facts: RequestFacts) -> tuple[int, ...]:
    """The creatives of ``campaign`` the impression accepts and the request does not block."""
    return tuple([i for i, c in enumerate(campaign.creatives) if _creative_ok(c, facts)])


def check(campaign: Campaign, facts: RequestFacts) -> tuple[tuple[int, ...], Reason | None]:
    """The full decision for one campaign: its eligible creatives, or why it does not match."""
    creatives = eligible_creatives(campaign, facts)
    if not creatives:
        return (), Reason("creative", Why.NO_CREATIVE)
    reason = matches(campaign.targeting, facts)
    return (creatives, None) if reason is None else ((), reason)


def scan(campaigns: Sequence[Campaign], facts: RequestFacts) -> list[CampaignMatch]:
    """Every campaign checked in full: the reference the index must agree with."""
    out = []
    for position, campaign in enumerate(campaigns):
        creatives, reason = check(campaign, facts)
        if reason is None:
            out.append(CampaignMatch(position, campaign, creatives))
    return out


class _Inverted:
    """Value → positions of campaigns allowing it or not restricting the dimension."""

    __slots__ = ("any", "by_value", "dimension")

    def __init__(self, dimension: Dimension, campaigns: Sequence[Campaign]) -> None:
        self.dimension = dimension
        unrestricted: set[int] = set()
        postings: dict[str, set[int]] = {}
        for position, campaign in enumerate(campaigns):
            rule = campaign.targeting.rule(dimension)
            if rule is None or rule.allow is None:
                unrestricted.add(position)
                continue
            for value in rule.allow:
                postings.setdefault(value, set()).add(position)
        self.any: frozenset[int] = frozenset(unrestricted)
        self.by_value: dict[str, frozenset[int]] = {
            value: frozenset(members | unrestricted) for value, members in postings.items()
        }

    def lookup(self, values: frozenset[str]) -> frozenset[int]:
        if not values:
            return self.any
        if len(values) == 1:
            (value,) = values
            return self.by_value.get(value, self.any)
        return frozenset().union(*(self.by_value.get(v, self.any) for v in values))


class CampaignIndex:
    """The campaigns of one router, indexed; built once per config, read-only afterwards."""

    __slots__ = ("_by_format", "_inverted", "campaigns")

    def __init__(self, campaigns: Sequence[Campaign]) -> None:
        self.campaigns: tuple[Campaign, ...] = tuple(campaigns)
        by_format: dict[tuple[str, int, int], set[int]] = {}
        for position, campaign in enumerate(self.campaigns):
            for creative in campaign.creatives:
                by_format.setdefault(creative.format_key, set()).add(position)
        self._by_format = {key: frozenset(members) for key, members in by_format.items()}
        self._inverted = tuple(_Inverted(d, self.campaigns) for d in INDEXED)

    def serves(self, formats: Iterable[FormatKey]) -> bool:
        """Whether any campaign has a creative of one of ``formats`` (bidder eligibility)."""
        return any(key in self._by_format for key in formats)

    def narrow(self, facts: RequestFacts) -> list[int]:
        """Positions (ascending) that pass the inverted indexes: a superset of candidates."""
        formats = [self._by_format[k] for k in facts.formats if k in self._by_format]
        if not formats:
            return []
        sets: list[frozenset[int]] = [
            formats[0] if len(formats) == 1 else frozenset().union(*formats)
        ]
        sets.extend(inv.lookup(facts.lists[inv.dimension]) for inv in self._inverted)
        sets.sort(key=len)
        result = sets[0]
        for other in sets[1:]:
            if not result:
                return []
            result = result & other
        return sorted(result)

    def candidates(self, facts: RequestFacts) -> list[CampaignMatch]:
        """Campaigns that want the impression, in config order, with their creatives."""
        out = []
        campaigns = self.campaigns
        for position in self.narrow(facts):
            campaign = campaigns[position]
            creatives, reason = check(campaign, facts)
            if reason is None:
                out.append(CampaignMatch(position, campaign, creatives))
        return out

    def explain(self, facts: RequestFacts) -> dict[str, Reason | None]:
        """Per campaign id, why it did not match (None: it is a candidate). Full scan."""
        return {c.id: check(c, facts)[1] for c in self.campaigns}
