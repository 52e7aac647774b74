"""Budget holds: the plain data the reserve/release/settle operations work on.

A campaign-day is an *account*: settled spend, money held for bids in flight, and the holds
themselves (id → amount, id → expiry). All its keys share the campaign's hash tag, so one
Lua script updates them atomically on one Redis Cluster shard.

The invariant every operation keeps, at every instant: spend + held ≤ budget.
"""

from dataclasses import dataclass
from enum import IntEnum


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The store keys of one campaign on one of its days."""

    spend: str
    held: str
    holds: str
    """Hash: hold id → amount in micros."""
    expiries: str
    """Sorted set: hold id → expiry in epoch milliseconds."""


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
