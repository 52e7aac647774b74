"""Campaign spend: what has been charged today, and charging a won impression exactly once.

Sits between callers that think in campaigns and days and the store that only knows keys.
A charge is keyed by the impression (auction, imp, bid), so a win notice and a billing
notice for the same impression, or any replay of either, charge it once in total.
"""

import time
from collections.abc import Callable, Sequence

from budget.days import campaign_day
from budget.keys import KeySpace
from budget.store import CounterStore

CampaignAccount = tuple[str, str]
"""(campaign id, IANA time zone): enough to find a campaign's spend counter for a day."""


class SpendLedger:
    """Reads and charges campaign spend in integer micros through a CounterStore."""

    def __init__(
        self,
        store: CounterStore,
        keys: KeySpace,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock

    async def spent_today(self, accounts: Sequence[CampaignAccount]) -> list[int]:
        """Each campaign's spend on its current day, in one store round trip."""
        now_s = self._clock()
        keys = [self._keys.spend(cid, campaign_day(now_s, tz)) for cid, tz in accounts]
        return await self._store.read_many(keys)

    async def charge(
        self,
        account: CampaignAccount,
        *,
        cost_micros: int,
        charge_id: str,
        bid_time_s: float,
        charge_ttl_s: int,
    ) -> bool:
        """Charge one impression to the day it was bid on; False when it was charged before."""
        campaign_id, time_zone = account
        return await self._store.charge_once(
            spend_key=self._keys.spend(campaign_id, campaign_day(bid_time_s, time_zone)),
            charge_key=self._keys.charge(campaign_id, charge_id),
            cost_micros=cost_micros,
            charge_ttl_s=charge_ttl_s,
        )
