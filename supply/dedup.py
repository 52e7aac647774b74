"""One impression, several paths: answer the repeats, keep the shortest path.

An SSP account may opt in (``dedup_window_s`` in the accounts file). Its requests are keyed
by the transaction (``source.tid``, the id OpenRTB 2.6 has every path of one impression
opportunity carry) and the imp ids; a request whose key was seen within the window by a
path with no more paid hops (nodes with ``hp`` not 0) is a duplicate, answered no-bid
(``duplicate_path``). A shorter path arriving later is still auctioned (the longer one
already was: an answer cannot be recalled) and is the one later repeats are measured
against. A request without ``tid`` is never a duplicate; one without a chain counts as the
longest path.

``SeenPaths`` is one process's seen-set, in memory, and bounded: at most ``max_entries``
keys, the oldest dropped first, each a fixed-size digest. A client sending endless new tids
only cycles it. On Redis every process shares one (``exchange.path_dedup``: one key per
impression, expiring with the window), so the same impression reaching two processes by two
paths is still caught; docs/supply_paths.md gives the figures.
"""

import hashlib
from collections import OrderedDict
from typing import Final

from openrtb.request import BidRequest, SupplyChain
from openrtb.upgrade import upgrade_source

__all__ = ["MAX_SEEN", "UNKNOWN_HOPS", "SeenPaths", "dedup_key", "paid_hops", "path_hops"]

MAX_SEEN: Final = 50_000
UNKNOWN_HOPS: Final = 1 << 20
"""The hops of a request without a supply chain: longer than any real one."""


def dedup_key(request: BidRequest) -> str | None:
    """The impression's identity: a digest of ``source.tid`` and the sorted imp ids (fixed
    size, whatever the client sent); None without a ``tid``."""
    tid = request.source.tid if request.source is not None else None
    if not tid:
        return None
    text = "\0".join([tid, *sorted(imp.id for imp in request.imp)])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def paid_hops(chain: SupplyChain | None) -> int:
    """The nodes paid for the inventory (``hp`` 1 or unset): fewer is the more direct path."""
    if chain is None:
        return UNKNOWN_HOPS
    return sum(node.hp != 0 for node in chain.nodes)


def path_hops(request: BidRequest) -> int:
    """The paid hops of the path ``request`` came by (``UNKNOWN_HOPS`` without a chain)."""
    source = request.source
    return paid_hops(upgrade_source(source).schain if source is not None else None)


class SeenPaths:
    """Recently seen impressions and the shortest path each came by (bounded, in memory)."""

    def __init__(self, max_entries: int = MAX_SEEN) -> None:
        self._max = max_entries
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def duplicate(self, request: BidRequest, window_s: float, now: float) -> bool:
        """True when ``request`` repeats an impression seen within ``window_s`` by a path no
        longer; otherwise it is remembered (with its hops) and False."""
        key = dedup_key(request)
        if key is None:
            return False
        hops = path_hops(request)
        seen = self._seen.get(key)
        if seen is not None and seen[0] > now and seen[1] <= hops:
            return True
        self._seen[key] = (now + window_s, hops)
        self._seen.move_to_end(key)
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return False
