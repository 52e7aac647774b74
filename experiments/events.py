"""An experiment's units from the exchange's event export (``rtb export``): one per bid of an
in-process campaign in one of its variants, won or lost, with what the bid led to.

An ``auction`` event names every such bid (``variants``: JSON ``[[imp, bid, tag], …]``), so
win rates are per bid; exports from before that field have only the winners, whose
``winner_features`` event carries the variant: those become one unit per billed impression
(no bids known, win rate not defined).
"""

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
import orjson

from bidding.event_log import (
    BILLING_EVENT,
    CLICK_EVENT,
    CONVERSION_EVENT,
    WINNER_EVENT,
    event_impression,
    event_seconds,
    impression_id,
)
from experiments.units import Units

__all__ = ["units_from_events"]

_CHARGING: Final = frozenset({BILLING_EVENT, "notice_win"})
"""The notices whose event carries an in-process impression's charge: the first to arrive
(win or billing) charged it, the other says ``charged_micros`` 0."""


def _micros(event: Mapping[str, str], name: str, index: int) -> int:
    text = event.get(name) or "0"
    if not text.lstrip("-").isdigit() or int(text) < 0:
        raise ValueError(f"event {index} ({event.get('kind')}): field {name!r}: {text!r}")
    return int(text)


def _bids(event: Mapping[str, str], prefix: str, index: int) -> list[tuple[str, str]]:
    """The (impression id, variant) of each of ``event``'s bids in the experiment (its
    ``variants``: a JSON list of [imp id, bid id, ``experiment:variant``])."""
    auction = event.get("auction_id", "")
    try:
        items = orjson.loads(event.get("variants") or "[]")
        named = [(str(imp), str(bid), str(tag)) for imp, bid, tag in items]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"event {index} (auction): field 'variants': {exc}") from exc
    return [
        (impression_id(auction, imp, bid), tag[len(prefix) :])
        for imp, bid, tag in named
        if tag.startswith(prefix)
    ]


def _tag(event: Mapping[str, str], prefix: str) -> str | None:
    """The winner's ``experiment:variant`` or ``canary:arm`` of this experiment, if any."""
    for field in ("variant", "canary"):
        tag = event.get(field, "")
        if tag.startswith(prefix):
            return tag
    return None


def _time(event: Mapping[str, str], index: int) -> float:
    """When the event was written (``ts_ms``, every event has it), else its request's time
    (``ts``), else its place in the file."""
    if event.get("ts_ms"):
        return event_seconds(event, index)
    return float(event.get("ts") or index)


def _clicked(key: str, clicks: set[str], conversions: Mapping[str, list[int]]) -> bool:
    return key in clicks or key in conversions


def units_from_events(events: Iterable[Mapping[str, str]], experiment: str) -> Units:
    """The bids of ``experiment`` in ``events``, in the order they were made: the variant,
    whether it was billed and for how much, its click, and its conversions with their values
    (money in exchange-currency micros)."""
    variants: dict[str, tuple[float, str, bool]] = {}
    spend: dict[str, int] = {}
    clicks: set[str] = set()
    conversions: dict[str, list[int]] = {}
    prefix = f"{experiment}:"
    for index, event in enumerate(events):
        kind = event.get("kind")
        if kind == "auction" and event.get("variants"):
            ts = _time(event, index)
            for key, name in _bids(event, prefix, index):
                variants[key] = (ts, name, True)
        elif kind == WINNER_EVENT and (tag := _tag(event, prefix)):
            key = event_impression(event)
            if key not in variants:  # a canary's arm, or an export from before bids were named
                variants[key] = (_time(event, index), tag[len(prefix) :], False)
        elif kind in _CHARGING:  # the impression's first notice charged it, whichever kind
            key = event_impression(event)
            spend[key] = spend.get(key, 0) + _micros(event, "charged_micros", index)
        elif kind == CLICK_EVENT:
            clicks.add(event_impression(event))
        elif kind == CONVERSION_EVENT and event.get("click"):
            value = _micros(event, "value_micros", index)
            conversions.setdefault(event["click"], []).append(value)
    units = sorted(
        (ts, key, name, bid)
        for key, (ts, name, bid) in variants.items()
        if bid or spend.get(key, 0) > 0
    )
    if not any(spend.get(key, 0) > 0 for _, key, _, _ in units):
        raise ValueError(f"no billed impression of experiment {experiment!r} in the events")
    keys = [key for _, key, _, _ in units]
    return Units(
        np.array([name for _, _, name, _ in units]),
        {
            "bids": np.array([bid for _, _, _, bid in units], np.int64),
            "impressions": np.array([spend.get(k, 0) > 0 for k in keys], np.int64),
            "clicks": np.array(
                [spend.get(k, 0) > 0 and _clicked(k, clicks, conversions) for k in keys],
                np.int64,
            ),
            "conversions": np.array([len(conversions.get(k, ())) for k in keys], np.int64),
        },
        {
            "spend": np.array([spend.get(k, 0) for k in keys], np.int64),
            "value": np.array([sum(conversions.get(k, ())) for k in keys], np.int64),
        },
    )
