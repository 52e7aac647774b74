"""Reproducible, fair tie-breaking between bids of equal rank.

When two bids have exactly the same quality-adjusted score the auction still has to pick one,
and the pick must be (a) fair: over many auctions every tied bidder wins equally often, not
whoever came first in the fan-out; and (b) reproducible: replaying an auction from the event
log gives the same winner. Both follow from ordering tied bids by a keyed hash of the bid id,
seeded by the auction id: for a fixed auction id the keys are a pseudo-random permutation of
the bids, and a different auction id gives an independent one. No global random state is used.

The hash is BLAKE2b with an 8-byte digest over ``len(auction_id) ‖ auction_id ‖ bid_id``
(the length prefix keeps the encoding unambiguous: ("ab", "c") and ("a", "bc") differ). It is
fast, and it is computed only when a tie actually happens.

A bidder that knows the auction id and picks its own bid ids could search for ids with large
keys and win every tie. If that matters, the caller passes as ``auction_id`` a value bidders
cannot predict (for example the request id salted with a server-held secret); this module
only needs it to be stable for the auction.
"""

from hashlib import blake2b
from typing import Final

__all__ = ["tiebreak_key"]

_DIGEST_BYTES: Final = 8
_LENGTH_BYTES: Final = 8


def tiebreak_key(auction_id: str, bid_id: str) -> int:
    """A 64-bit pseudo-random key for ``bid_id`` in the auction ``auction_id``; larger wins a tie.

    Deterministic in both arguments; for a fixed auction id, distinct bid ids get keys that
    behave like independent uniform draws, so the largest key is uniform among tied bids.
    Total over ``str``: ids that are not valid UTF-8 (lone surrogates) are still encoded.
    """
    auction = auction_id.encode("utf-8", "surrogatepass")
    bid = bid_id.encode("utf-8", "surrogatepass")
    message = len(auction).to_bytes(_LENGTH_BYTES, "big") + auction + bid
    digest = blake2b(message, digest_size=_DIGEST_BYTES).digest()
    return int.from_bytes(digest, "big")
