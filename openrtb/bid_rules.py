"""What a bid must respect of the request it answers: the buyer-side blocks and the slot.

Checked for every bid of every bidder (external DSPs above all) before it can compete; a
bid that breaks a rule is dropped with the OpenRTB loss reason that names the rule:

* ``adomain`` in ``badv`` → 205 (advertiser exclusions), compared case-insensitively;
* a ``cat`` in ``bcat`` → 209 (category exclusions);
* ``bundle`` in ``bapp`` → 215 (app bundle exclusions);
* an ``attr`` in the imp's ``battr`` for the bid's media → 210 (attribute exclusions);
* ``mtype`` of a media type the imp does not offer → 204 (incorrect creative format);
* a banner ``w``×``h`` that is neither the imp's size nor one of its formats → 203 (size).

The exchange may add its own blocks (brand safety: ``fraud.brand_safety``) to the request's:
``BidRules.of(request, badv=…, bcat=…, widen=…)``, where ``widen`` gives every name a bid's
categories go by (parents, other taxonomies) so that one list covers them all.

Built once per request (``BidRules.of``), then one cheap call per bid.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from openrtb.enums import LossReason
from openrtb.imp import Imp
from openrtb.request import BidRequest

__all__ = ["BidFields", "BidRules"]


class BidFields(Protocol):
    """What the rules read of a bid: a wire ``Bid``, or an in-process router's offer."""

    @property
    def impid(self) -> str: ...
    @property
    def adomain(self) -> list[str] | None: ...
    @property
    def cat(self) -> list[str] | None: ...
    @property
    def cattax(self) -> int: ...
    @property
    def bundle(self) -> str | None: ...
    @property
    def mtype(self) -> int | None: ...
    @property
    def attr(self) -> list[int] | None: ...
    @property
    def w(self) -> int | None: ...
    @property
    def h(self) -> int | None: ...


_BANNER: Final = 1
_MEDIA: Final = ("banner", "video", "audio", "native")
"""Bid.mtype 1–4, in order."""


def _lower(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(v.lower() for v in values) if values else frozenset()


@dataclass(frozen=True, slots=True)
class _ImpRules:
    media: frozenset[int]
    """mtype values the imp offers."""
    sizes: frozenset[tuple[int, int]]
    """Banner sizes; empty when the imp states none (then any size goes)."""
    battr: dict[int, frozenset[int]]
    """Blocked creative attributes per mtype."""


def _imp_rules(imp: Imp) -> _ImpRules:
    media = set()
    battr: dict[int, frozenset[int]] = {}
    for mtype, name in enumerate(_MEDIA, start=1):
        offer = getattr(imp, name)
        if offer is not None:
            media.add(mtype)
            battr[mtype] = frozenset(offer.battr or ())
    sizes: set[tuple[int, int]] = set()
    banner = imp.banner
    if banner is not None:
        if banner.w and banner.h:
            sizes.add((banner.w, banner.h))
        sizes.update((f.w, f.h) for f in banner.format or () if f.w and f.h)
    return _ImpRules(frozenset(media), frozenset(sizes), battr)


@dataclass(frozen=True, slots=True)
class BidRules:
    """The rules of one request."""

    badv: frozenset[str]
    bcat: frozenset[str]
    bapp: frozenset[str]
    imps: dict[str, _ImpRules]
    widen: Callable[[Sequence[str], int], frozenset[str]] | None = None
    """Every name a bid's categories (of taxonomy ``cattax``) go by; None: as they are."""

    @classmethod
    def of(
        cls,
        request: BidRequest,
        *,
        badv: frozenset[str] = frozenset(),
        bcat: frozenset[str] = frozenset(),
        widen: Callable[[Sequence[str], int], frozenset[str]] | None = None,
    ) -> "BidRules":
        """The rules ``request`` sets for the bids that answer it, with the exchange's own
        ``badv`` (lower case) and ``bcat`` added."""
        return cls(
            badv=_lower(request.badv) | badv,
            bcat=frozenset(request.bcat or ()) | bcat,
            bapp=frozenset(request.bapp or ()),
            imps={imp.id: _imp_rules(imp) for imp in request.imp},
            widen=widen,
        )

    def rejection(self, bid: BidFields) -> LossReason | None:
        """The loss reason of the first rule ``bid`` breaks, or None when it may compete.

        ``bid.impid`` must be one of the request's imps (checked by the caller).
        """
        if self.badv and bid.adomain and not self.badv.isdisjoint(d.lower() for d in bid.adomain):
            return LossReason.CREATIVE_FILTERED_ADVERTISER_EXCLUSIONS
        if self.bcat and bid.cat:
            cats = bid.cat if self.widen is None else self.widen(bid.cat, bid.cattax)
            if not self.bcat.isdisjoint(cats):
                return LossReason.CREATIVE_FILTERED_CATEGORY_EXCLUSIONS
        if self.bapp and bid.bundle is not None and bid.bundle in self.bapp:
            return LossReason.CREATIVE_FILTERED_APP_BUNDLE_LIST_EXCLUSIONS
        imp = self.imps[bid.impid]
        mtype = bid.mtype
        if mtype is not None and mtype not in imp.media:
            return LossReason.CREATIVE_FILTERED_INCORRECT_FORMAT
        if bid.attr:
            blocked = imp.battr.get(mtype) if mtype is not None else None
            if blocked is None:
                blocked = frozenset().union(*imp.battr.values()) if imp.battr else frozenset()
            if not blocked.isdisjoint(bid.attr):
                return LossReason.CREATIVE_FILTERED_ATTRIBUTE_EXCLUSIONS
        if (
            imp.sizes
            and bid.w
            and bid.h
            and (mtype == _BANNER or (mtype is None and imp.media == {_BANNER}))
            and (bid.w, bid.h) not in imp.sizes
        ):
            return LossReason.CREATIVE_FILTERED_SIZE_NOT_ALLOWED
        return None
