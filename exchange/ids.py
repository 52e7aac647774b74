"""Where auction ids come from: random in serving, seeded in a simulation.

The exchange's id of an auction is what bidders see as the request id and what holds,
notices and charges are keyed by. An SSP's request ids are unique only to that SSP (and get
replayed); keying money by them would merge distinct auctions. An injected source keeps a
seeded simulation deterministic by construction.
"""

import random
import secrets
from collections.abc import Callable
from typing import Final

AUCTION_ID_BYTES: Final = 12
"""96 random bits: unique across every process and day without coordination."""

AuctionIds = Callable[[], str]
"""A source of auction ids: each call a new one, as lower-case hex."""


def random_auction_ids() -> str:
    """96 bits from the operating system's random source."""
    return secrets.token_hex(AUCTION_ID_BYTES)


def seeded_auction_ids(seed: int) -> AuctionIds:
    """Ids of the same form from a seeded generator: the same sequence for the same seed
    (never for serving: they are predictable)."""
    rng = random.Random(seed)
    bits = AUCTION_ID_BYTES * 8
    width = AUCTION_ID_BYTES * 2

    def next_id() -> str:
        return f"{rng.getrandbits(bits):0{width}x}"

    return next_id
