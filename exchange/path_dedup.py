"""The per-account de-duplication of impressions (``supply.dedup``) shared by every process
through the store.

Each opted-in request offers its impression's key and its paid hops to the store
(``claim_lower``: one atomic step, one key expiring with the account's window): the first
path, or a strictly shorter one, is auctioned; a repeat by a path no shorter is a duplicate,
whichever process saw the first. While the store does not answer, this process's own
seen-set decides (the same rule, its own requests only): a repeat across processes may then
be auctioned twice, which costs an SSP a second answer, never money.
"""

import time
from collections.abc import Callable

from budget.keys import KeySpace
from budget.store import CounterStore, StoreUnavailable
from openrtb.request import BidRequest
from supply.dedup import SeenPaths, dedup_key, path_hops


class SharedSeenPaths:
    """Seen impressions and their shortest paths, in the store (module docstring)."""

    def __init__(
        self,
        store: CounterStore,
        keys: KeySpace,
        local: SeenPaths | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._keys = keys
        self._local = local if local is not None else SeenPaths()
        self._monotonic = monotonic

    async def duplicate(self, request: BidRequest, window_s: float) -> bool:
        """True when ``request`` repeats an impression seen within ``window_s`` (by any
        process) by a path no longer; otherwise it is remembered and False."""
        key = dedup_key(request)
        if key is None:
            return False
        hops = path_hops(request)
        try:
            first = await self._store.claim_lower(
                self._keys.seen_path(key), hops, max(1, int(window_s * 1000))
            )
        except StoreUnavailable:
            return self._local.duplicate(request, window_s, self._monotonic())
        return not first
