"""Budget holds and charges: the plain data the reserve/release/settle operations work on.

A campaign-day is an *account*: settled spend, money held for bids in flight, and the holds
themselves (id → amount, id → expiry). All its keys share the campaign's hash tag, so one
Lua script updates them atomically on one Redis Cluster shard — together with the
campaign's ledger marker, which every money script checks first (``budget.ledger_watch``):
a store that lost its data has lost the marker too, so nothing is spent against a budget
that reads zero only because the counters are gone.

The invariant every operation keeps, at every instant: spend + held ≤ budget.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class BudgetedCampaign(Protocol):
    """What the budget side needs of a campaign — its id, its day's zone, its daily budget —
    for pacing and for the ledger (``bidding.campaigns.Campaign`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def daily_budget_micros(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The store keys of one campaign on one of its days."""

    spend: str
    held: str
    holds: str
    """Hash: hold id → amount in micros."""
    expiries: str
    """Sorted set: hold id → expiry in epoch milliseconds."""
    ledger: str
    """The campaign's ledger marker (not per day): the epoch of the ledger it belongs to."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Money set aside for one bid: the most the bid can cost if it wins."""

    account: AccountKeys
    hold_id: str
    amount_micros: int
    budget_micros: int
    ttl_ms: int


class Settlement(IntEnum):
    """What settling a won impression did."""

    DUPLICATE = 0
    """Already charged (a replayed or second notice): nothing changed."""
    SETTLED = 1
    """Charged against its hold; the rest of the hold went back to the budget."""
    CHARGED_LATE = 2
    """The hold had expired; charged because the budget still allowed it."""
    REFUSED = 3
    """The hold had expired and charging now would pass the budget: not charged (the
    exchange absorbs it rather than overspend an advertiser's budget)."""


@dataclass(frozen=True, slots=True)
class Charge:
    """One notice of a won impression, to settle in one atomic step.

    The impression is charged once whichever of its notices comes first (``charge_key``
    marks it); the notice itself is marked first-seen once per kind (``notice_key``); the
    impression's frequency caps (``caps``: key, TTL) count on its first notice of any kind.
    """

    account: AccountKeys
    hold_id: str
    cost_micros: int
    budget_micros: int
    charge_key: str
    notice_key: str
    marker_ttl_s: int
    caps: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.cost_micros < 0:
            raise ValueError("cost_micros must not be negative")


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """What one notice did: the settlement, the micros *this* notice charged (0 unless it
    was the one that charged), and whether it was the first notice of its kind."""

    settlement: Settlement
    charged_micros: int
    first_notice: bool
