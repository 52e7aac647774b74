"""The exchange's event log as training data: what a winning bid logs, and the join that
turns an exported log into labelled impressions for ``bidding.train``.

A model trains well only on the inputs it will be served, so with every winning bid of an
in-process campaign the exchange logs a ``winner_features`` event carrying the raw feature
inputs of that impression (``winner_fields``): ``features.context_values`` of the request as
the router saw it (after privacy rules: no user ids, IPs or device ids, and no age, gender or
segments where the regulations forbid them) and the ad's columns. An export of the stream
(``rtb export``) then joins, per impression (auction id, imp id, bid id):

* an **impression** is a ``notice_billing`` event (the ad was shown and charged) of a
  winner that has features; winners never billed (not shown, test auctions) are no rows;
* **click** is 1 with a ``click`` event of it, or with a conversion (a conversion needs a
  click id, which only a click hands out; that click's event may have been lost);
* **conversion** is 1 with a ``conversion`` event whose ``click`` is the impression's id
  (the ``rtb_click`` the advertiser got on the landing page).

Only what the given exports hold is joined: a conversion exported after its impression
counts when both exports are passed together.
"""

import csv
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bidding.campaigns import Campaign, Creative
from bidding.features import (
    NUMERIC_COLUMNS,
    RAW_COLUMNS,
    AdKey,
    ContextValue,
    ProfileCounts,
    context_values,
)
from openrtb.imp import Imp
from openrtb.request import BidRequest

__all__ = [
    "BILLING_EVENT",
    "CLICK_EVENT",
    "CONVERSION_EVENT",
    "WINNER_EVENT",
    "ad_key",
    "event_impression",
    "event_seconds",
    "impression_id",
    "labelled_impressions",
    "read_event_csv",
    "winner_fields",
]

WINNER_EVENT: Final = "winner_features"
BILLING_EVENT: Final = "notice_billing"
CLICK_EVENT: Final = "click"
CONVERSION_EVENT: Final = "conversion"


def ad_key(campaign: Campaign, creative: Creative) -> AdKey:
    """The ad columns a creative is scored with: its campaign, id, first category, size."""
    cat = creative.cat[0] if creative.cat else None
    return AdKey(campaign.id, creative.id, cat, creative.w, creative.h)


def winner_fields(
    request: BidRequest, imp: Imp, now_s: float, ad: AdKey, profile: ProfileCounts | None = None
) -> dict[str, ContextValue]:
    """The raw feature inputs of a winning bid, as plain scalars for its event (``request``
    as the bidder saw it: privacy rules applied; ``profile``: the counts it was scored with)."""
    fields = context_values(request, imp, now_s, profile)
    fields["campaign_id"] = ad.campaign_id
    fields["creative_id"] = ad.creative_id
    fields["ad_cat"] = ad.cat
    fields["w"] = ad.w
    fields["h"] = ad.h
    return fields


def impression_id(auction_id: str, imp_id: str, bid_id: str) -> str:
    """A won impression's id: what notices and clicks are keyed by and what the advertiser
    gets as its click id (as ``exchange.notice_token.NoticeClaim.impression_id``)."""
    return f"{auction_id}:{imp_id}:{bid_id}"


def event_seconds(event: Mapping[str, str], index: int) -> float:
    """When an exported event was written (its ``ts_ms``); ValueError naming the event."""
    stamp = event.get("ts_ms") or "0"
    if not stamp.isdigit():
        raise ValueError(f"event {index} ({event.get('kind')}): field 'ts_ms': {stamp!r}")
    return int(stamp) / 1000


def event_impression(event: Mapping[str, str]) -> str:
    """The id of the won impression an event is about."""
    return impression_id(
        event.get("auction_id", ""), event.get("imp_id", ""), event.get("bid_id", "")
    )


def _number(event: Mapping[str, str], name: str, index: int) -> float:
    text = event.get(name) or ""
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"event {index} ({WINNER_EVENT}): field {name!r}: not a number: {text!r}"
        ) from None


def labelled_impressions(events: Iterable[Mapping[str, str]]) -> dict[str, NDArray[Any]]:
    """The labelled impressions in ``events`` (in log order; see the module docstring) as
    columns: ``RAW_COLUMNS`` (numbers float64 with NaN for missing, text ``str`` or None)
    plus ``click`` and ``conversion`` (0.0/1.0). Raises ValueError naming the event and the
    field of a malformed number."""
    features: dict[str, tuple[int, Mapping[str, str]]] = {}
    billed: set[str] = set()
    clicked: set[str] = set()
    converted: set[str] = set()
    for index, event in enumerate(events):
        kind = event.get("kind")
        if kind == WINNER_EVENT:
            features[event_impression(event)] = (index, event)
        elif kind == BILLING_EVENT:
            billed.add(event_impression(event))
        elif kind == CLICK_EVENT:
            clicked.add(event_impression(event))
        elif kind == CONVERSION_EVENT and event.get("click"):
            converted.add(event["click"])
    rows = [(key, index, event) for key, (index, event) in features.items() if key in billed]
    columns: dict[str, NDArray[Any]] = {}
    for name in RAW_COLUMNS:
        if name in NUMERIC_COLUMNS:
            columns[name] = np.array([_number(e, name, i) for _, i, e in rows], dtype=np.float64)
        else:
            columns[name] = np.array([e.get(name) or None for _, _, e in rows], dtype=object)
    keys = [key for key, _, _ in rows]
    columns["click"] = np.array([k in clicked or k in converted for k in keys], dtype=np.float64)
    columns["conversion"] = np.array([k in converted for k in keys], dtype=np.float64)
    return columns


def read_event_csv(paths: Sequence[Path]) -> Iterator[dict[str, str]]:
    """The events of ``rtb export`` CSV files, file after file (streamed: logs are big).
    Raises ValueError naming the file when one has no header or no ``kind`` column."""
    for path in paths:
        with path.open(newline="", encoding="utf-8") as source:
            reader = csv.DictReader(source)
            if reader.fieldnames is None or "kind" not in reader.fieldnames:
                raise ValueError(f"{path}: not an event export (no 'kind' column)")
            for row in reader:
                yield {name: value for name, value in row.items() if name is not None and value}
