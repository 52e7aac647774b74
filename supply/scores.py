"""Per supply path, from an event export: how often it sells, at what price, how clean.

Each ``auction`` event names its path (``schain``, ``hops``, ``schain_complete``: see
``supply.paths``), its outcome, its winners (``imp|bid id|bid micros|clearing micros`` per
winning imp) and what the traffic screen found (``ivt``). ``notice_billing`` and ``click``
events join a winner by auction id and imp id. Per path:

* **bid rate**: auctions that got at least one valid bid (a winner, or ``not_cleared``);
* **win rate**: auctions with a winner ÷ auctions;
* **eCPM**: the mean clearing CPM of the winning imps, integer micros (rounded down);
* **bid–clear gap**: 1 − Σ clearing ÷ Σ winning bid, the take-rate estimate
  (docs/supply_paths.md says what it is and what it is not);
* **billed share**: winning imps with a billing notice ÷ winning imps (the render proxy:
  no viewability measurement is in the log);
* **click rate**: clicked ÷ billed imps (the engagement proxy);
* **IVT share**: auctions the screen flagged or blocked ÷ auctions.

Auctions exported before the path was recorded fall under ``UNRECORDED``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["UNRECORDED", "InputError", "PathScore", "Winner", "parse_winners", "score_paths"]

UNRECORDED: Final = "(not recorded)"
_BID_OUTCOME: Final = "bid"
_NOT_CLEARED: Final = "not_cleared"


class InputError(ValueError):
    """An event the scores cannot read; the message names the row and the field."""


@dataclass(frozen=True, slots=True)
class Winner:
    """One winning imp of an auction event."""

    imp_id: str
    bid_micros: int
    clearing_micros: int


@dataclass(slots=True)
class _Tally:
    hops: int | None = None
    complete: int | None = None
    auctions: int = 0
    with_bids: int = 0
    won: int = 0
    ivt: int = 0
    blocked: int = 0
    imps: list[tuple[str, str, int, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PathScore:
    """One path's figures (rates are None where their denominator is 0)."""

    path: str
    hops: int | None
    complete: int | None
    auctions: int
    bid_rate: float
    win_rate: float
    wins: int
    """Winning imps."""
    ecpm_micros: int | None
    gap: float | None
    """Bid–clear gap: 1 − Σ clearing ÷ Σ winning bid."""
    billed: int
    billed_share: float | None
    clicks: int
    click_rate: float | None
    ivt_share: float
    blocked: int


def parse_winners(text: str, where: str) -> list[Winner]:
    """The ``winners`` field; InputError naming ``where`` when an item is malformed."""
    found = []
    for item in filter(None, text.split(";")):
        parts = item.rsplit("|", 3)
        if len(parts) != 4:
            raise InputError(f"{where}: winners item {item!r} is not imp|bid|micros|micros")
        imp_id, _, bid, clearing = parts
        found.append(Winner(imp_id, _micros(bid, where), _micros(clearing, where)))
    return found


def _micros(text: str, where: str) -> int:
    if not text.isdigit():
        raise InputError(f"{where}: winners price {text!r} is not a whole number of micros")
    return int(text)


def _count(text: str | None, where: str, name: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise InputError(f"{where}: {name} {text!r} is not a whole number")
    return int(text)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def score_paths(events: Iterable[tuple[str, Mapping[str, str]]]) -> list[PathScore]:
    """The scores of every path in ``events`` (``(where, event)``: where names the row in
    errors), most auctions first. InputError for a malformed auction event."""
    tallies: dict[str, _Tally] = {}
    billed: set[tuple[str, str]] = set()
    clicked: set[tuple[str, str]] = set()
    for where, event in events:
        kind = event.get("kind")
        if kind == "notice_billing" or kind == "click":
            key = (event.get("auction_id", ""), event.get("imp_id", ""))
            (billed if kind == "notice_billing" else clicked).add(key)
            continue
        if kind != "auction":
            continue
        path = event.get("schain", UNRECORDED)
        tally = tallies.setdefault(path, _Tally())
        tally.hops = _count(event.get("hops"), where, "hops")
        tally.complete = _count(event.get("schain_complete"), where, "schain_complete")
        tally.auctions += 1
        outcome = event.get("outcome")
        if outcome not in (_BID_OUTCOME, "nobid"):
            raise InputError(f"{where}: outcome {outcome!r} is not bid or nobid")
        won = outcome == _BID_OUTCOME
        tally.won += won
        tally.with_bids += won or event.get("nobid") == _NOT_CLEARED
        screening = event.get("ivt")
        if screening:
            tally.ivt += 1
            tally.blocked += "block:" in screening
        auction_id = event.get("auction_id", "")
        for winner in parse_winners(event.get("winners", ""), where):
            tally.imps.append(
                (auction_id, winner.imp_id, winner.bid_micros, winner.clearing_micros)
            )
    scores = [_score(path, tally, billed, clicked) for path, tally in tallies.items()]
    return sorted(scores, key=lambda s: (-s.auctions, s.path))


def _score(
    path: str, tally: _Tally, billed: set[tuple[str, str]], clicked: set[tuple[str, str]]
) -> PathScore:
    imps = tally.imps
    wins = len(imps)
    bids = sum(bid for _, _, bid, _ in imps)
    clearing = sum(price for _, _, _, price in imps)
    shown = [(a, i) for a, i, _, _ in imps if (a, i) in billed]
    clicks = sum(key in clicked for key in shown)
    return PathScore(
        path=path,
        hops=tally.hops,
        complete=tally.complete,
        auctions=tally.auctions,
        bid_rate=tally.with_bids / tally.auctions,
        win_rate=tally.won / tally.auctions,
        wins=wins,
        ecpm_micros=clearing // wins if wins else None,
        gap=1 - clearing / bids if bids else None,
        billed=len(shown),
        billed_share=_share(len(shown), wins),
        clicks=clicks,
        click_rate=_share(clicks, len(shown)),
        ivt_share=tally.ivt / tally.auctions,
        blocked=tally.blocked,
    )
