"""Campaign money in campaign terms: hold at bid time, release on loss, settle on billing.

Sits between callers that think in campaigns and days and the store that only knows keys.
A bid holds the most it can cost on the campaign's current day; a lost bid releases its
hold; a won impression settles against its hold, keyed by the impression (auction, imp,
bid), so a win notice and a billing notice for it, or any replay of either, charge it once
in total. The hold id *is* the impression id, so whoever knows the impression can settle
or release it.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from budget.accounts import Charge, ChargeResult, Hold
from budget.days import campaign_day
from budget.keys import KeySpace
from budget.store import CounterStore

CampaignAccount = tuple[str, str]
"""(campaign id, IANA time zone): enough to find a campaign's spend counter for a day."""


class HoldRequest(Protocol):
    """What the ledger needs to know of a hold (callers pass their own records)."""

    @property
    def campaign_id(self) -> str: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def budget_micros(self) -> int: ...
    @property
    def hold_id(self) -> str: ...
    @property
    def amount_micros(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CampaignHold:
    """A bid's hold in campaign terms."""

    campaign_id: str
    time_zone: str
    budget_micros: int
    hold_id: str
    amount_micros: int


CapSpec = tuple[int, str]
"""(count, window): at most ``count`` impressions per user per ``"day"`` or ``"hour"``."""

_WINDOW_TTL_S = {"day": 2 * 24 * 3600, "hour": 2 * 3600}
"""Counters outlive their window (the window itself is in the key); this only cleans up."""


def _window(window: str, now_s: float, time_zone: str) -> str:
    if window == "hour":
        return f"h{int(now_s // 3600)}"
    return f"d{campaign_day(now_s, time_zone)}"


def _reached(limits: Sequence[tuple[str, int]], counts: Sequence[int]) -> set[str]:
    return {cid for (cid, limit), seen in zip(limits, counts, strict=True) if seen >= limit}


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

    async def reserve(self, holds: Sequence[HoldRequest], ttl_s: float) -> list[bool]:
        """Place holds on each campaign's current day, one round trip; True where placed."""
        now_s = self._clock()
        ttl_ms = max(1, int(ttl_s * 1000))
        return await self._store.reserve(
            [
                Hold(
                    self._keys.account(h.campaign_id, campaign_day(now_s, h.time_zone)),
                    h.hold_id,
                    h.amount_micros,
                    h.budget_micros,
                    ttl_ms,
                )
                for h in holds
            ]
        )

    async def release(self, holds: Sequence[HoldRequest], bid_time_s: float) -> None:
        """Give the holds of lost bids back to their campaigns' budgets."""
        await self._store.release(
            [
                (
                    self._keys.account(h.campaign_id, campaign_day(bid_time_s, h.time_zone)),
                    h.hold_id,
                )
                for h in holds
            ]
        )

    def _cap_keys(
        self, campaign_id: str, time_zone: str, caps: Sequence[CapSpec], user: str, now_s: float
    ) -> list[str]:
        return [
            self._keys.frequency(campaign_id, user, _window(window, now_s, time_zone))
            for _, window in caps
        ]

    def _cap_reads(
        self, campaigns: Sequence[tuple[str, str, Sequence[CapSpec]]], user: str
    ) -> tuple[list[str], list[tuple[str, int]]]:
        """The counter keys of every cap of ``campaigns`` for ``user`` now, and per key its
        (campaign, limit)."""
        now_s = self._clock()
        keys: list[str] = []
        limits: list[tuple[str, int]] = []
        for campaign_id, time_zone, caps in campaigns:
            keys.extend(self._cap_keys(campaign_id, time_zone, caps, user, now_s))
            limits.extend((campaign_id, count) for count, _ in caps)
        return keys, limits

    async def capped(
        self, campaigns: Sequence[tuple[str, str, Sequence[CapSpec]]], user: str
    ) -> set[str]:
        """The campaigns (id, zone, caps) that reached a frequency cap for ``user``, in one
        round trip."""
        keys, limits = self._cap_reads(campaigns, user)
        if not keys:
            return set()
        return _reached(limits, await self._store.read_many(keys))

    async def capped_with_profile(
        self, campaigns: Sequence[tuple[str, str, Sequence[CapSpec]]], user: str
    ) -> tuple[set[str], Mapping[str, str]]:
        """``capped`` and the user's stored profile record, in the same round trip."""
        keys, limits = self._cap_reads(campaigns, user)
        counts, record = await self._store.read_counts_and_record(keys, self._keys.profile(user))
        return _reached(limits, counts), record

    async def settle(
        self,
        account: CampaignAccount,
        *,
        budget_micros: int,
        impression_id: str,
        cost_micros: int,
        bid_time_s: float,
        marker_ttl_s: int,
        notice_kind: str = "billing",
        caps: Sequence[CapSpec] = (),
        user: str = "",
    ) -> ChargeResult:
        """Settle one notice of a won impression, on the day it was bid, in one atomic step:
        charge it once against its hold, mark the notice (of ``notice_kind``) as seen, and
        on its first notice count ``user``'s impression in each of the campaign's ``caps``."""
        campaign_id, time_zone = account
        cap_keys = (
            [
                (key, _WINDOW_TTL_S[window])
                for key, (_, window) in zip(
                    self._cap_keys(campaign_id, time_zone, caps, user, bid_time_s),
                    caps,
                    strict=True,
                )
            ]
            if user
            else []
        )
        return await self._store.settle(
            Charge(
                account=self._keys.account(campaign_id, campaign_day(bid_time_s, time_zone)),
                hold_id=impression_id,
                cost_micros=cost_micros,
                budget_micros=budget_micros,
                charge_key=self._keys.charge(campaign_id, impression_id),
                notice_key=self._keys.notice(notice_kind, impression_id, campaign_id),
                marker_ttl_s=marker_ttl_s,
                caps=tuple(cap_keys),
            )
        )
