"""An experiment's units from the exchange's event export (``rtb export``): one per billed
impression of an in-process campaign whose winning bid carried one of its variants."""

from collections.abc import Iterable, Mapping

import numpy as np

from bidding.event_log import (
    BILLING_EVENT,
    CLICK_EVENT,
    CONVERSION_EVENT,
    WINNER_EVENT,
    event_impression,
)
from experiments.units import Units

__all__ = ["units_from_events"]


def _micros(event: Mapping[str, str], name: str, index: int) -> int:
    text = event.get(name) or "0"
    if not text.lstrip("-").isdigit() or int(text) < 0:
        raise ValueError(f"event {index} ({event.get('kind')}): field {name!r}: {text!r}")
    return int(text)


def units_from_events(events: Iterable[Mapping[str, str]], experiment: str) -> Units:
    """The billed impressions of ``experiment`` in ``events``, in the order they were won:
    the variant from the winner's event, the charge from its billing notice, its click,
    and its conversions with their values (money in exchange-currency micros)."""
    variants: dict[str, tuple[float, str]] = {}
    spend: dict[str, int] = {}
    clicks: set[str] = set()
    conversions: dict[str, list[int]] = {}
    prefix = f"{experiment}:"
    for index, event in enumerate(events):
        kind = event.get("kind")
        if kind == WINNER_EVENT and event.get("variant", "").startswith(prefix):
            variants[event_impression(event)] = (
                float(event.get("ts") or index),
                event["variant"][len(prefix) :],
            )
        elif kind == BILLING_EVENT:
            spend[event_impression(event)] = _micros(event, "charged_micros", index)
        elif kind == CLICK_EVENT:
            clicks.add(event_impression(event))
        elif kind == CONVERSION_EVENT and event.get("click"):
            value = _micros(event, "value_micros", index)
            conversions.setdefault(event["click"], []).append(value)
    billed = sorted((ts, key, name) for key, (ts, name) in variants.items() if key in spend)
    if not billed:
        raise ValueError(f"no billed impression of experiment {experiment!r} in the events")
    keys = [key for _, key, _ in billed]
    return Units(
        np.array([name for _, _, name in billed]),
        {
            "impressions": np.ones(len(keys), np.int64),
            "clicks": np.array([k in clicks or k in conversions for k in keys], np.int64),
            "conversions": np.array([len(conversions.get(k, ())) for k in keys], np.int64),
        },
        {
            "spend": np.array([spend[k] for k in keys], np.int64),
            "value": np.array([sum(conversions.get(k, ())) for k in keys], np.int64),
        },
    )
