"""Users' profiles, written where the events happen: notices, clicks, conversions, and the
segments an operator declares (``bidding.profiles`` says what a profile holds).

Every write is for a user whose request allowed profiling (``openrtb.privacy.may_profile``,
carried in the notice token as ``profiled``), under the user's keyed hash (``openrtb.
identity``): no raw id is stored, and without consent nothing is. A profile is a side
effect of an event already recorded, so a store failure loses one count (logged), never
the notice, click or conversion.
"""

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import structlog

from bidding.campaigns import Campaign
from bidding.profiles import (
    DAY_S,
    KEEP_DAYS,
    ProfileEvent,
    UserProfile,
    event_fields,
    segment_field,
    utc_day,
)
from budget.keys import KeySpace
from budget.profile_write import ProfileWrite
from budget.store import CounterStore, StoreUnavailable
from openrtb.identity import UserKeys

__all__ = ["DEFAULT_MAX_FIELDS", "ProfileBook", "ad_categories"]

log = structlog.get_logger("exchange.profiles")

DEFAULT_MAX_FIELDS: Final = 256
"""Fields one profile may hold: a month of a user's events over a few dozen campaigns and
categories, and its segments."""


def ad_categories(campaign: Campaign, creative_id: str) -> list[str]:
    """The IAB categories an event on ``creative_id`` counts for: each of the creative's
    and its tier-1 parent (``IAB20-3`` counts for ``IAB20`` too), so a rule on a tier-1
    category matches ads in any of its subcategories."""
    for creative in campaign.creatives:
        if creative.id == creative_id:
            out = []
            for category in creative.cat:
                out.append(category)
                parent, dash, _ = category.partition("-")
                if dash:
                    out.append(parent)
            return list(dict.fromkeys(out))
    return []


class ProfileBook:
    """Reads and writes profiles in the counter store."""

    def __init__(
        self,
        store: CounterStore,
        keys: KeySpace,
        user_keys: UserKeys,
        clock: Callable[[], float] = time.time,
        *,
        max_fields: int = DEFAULT_MAX_FIELDS,
    ) -> None:
        self._store = store
        self._keys = keys
        self.user_keys = user_keys
        """The keyed hash the bidders know users by (the admin API's ids go through it)."""
        self._clock = clock
        self._max_fields = max_fields

    def _write(
        self,
        user: str,
        now_s: float,
        *,
        increments: Iterable[tuple[str, int]] = (),
        sets: Iterable[tuple[str, str]] = (),
        deletes: Iterable[str] = (),
    ) -> ProfileWrite:
        return ProfileWrite(
            key=self._keys.profile(user),
            day=utc_day(now_s),
            now_s=int(now_s),
            keep_days=KEEP_DAYS,
            max_fields=self._max_fields,
            ttl_s=KEEP_DAYS * DAY_S,
            increments=tuple(increments),
            sets=tuple(sets),
            deletes=tuple(deletes),
        )

    async def record(
        self, event: ProfileEvent, user: str, campaign: Campaign, creative_id: str
    ) -> None:
        """Count one event of ``user`` on an ad of ``campaign``; a store failure is logged."""
        now_s = self._clock()  # one reading: the fields' day is the write's day
        fields = event_fields(
            event, utc_day(now_s), campaign.id, ad_categories(campaign, creative_id)
        )
        try:
            await self._store.write_profile(self._write(user, now_s, increments=fields))
        except StoreUnavailable as exc:
            log.warning(
                "profile_event_unrecorded",
                profile_event=event.value,
                campaign_id=campaign.id,
                error=str(exc),
            )

    async def declare(
        self, user: str, segments: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        """Give ``user`` each segment until its expiry (Unix seconds) and take ``remove``
        away; StoreUnavailable propagates (the operator is told to retry)."""
        await self._store.write_profile(
            self._write(
                user,
                self._clock(),
                sets=((segment_field(name), str(until)) for name, until in segments.items()),
                deletes=(segment_field(name) for name in remove),
            )
        )

    async def read(self, user: str) -> UserProfile:
        """The profile of ``user`` as a bidder would read it now."""
        record = await self._store.read_record(self._keys.profile(user))
        return UserProfile.parse(record, self._clock())

    async def remember_click(
        self, campaign: Campaign, impression_id: str, user: str, creative_id: str
    ) -> None:
        """Keep whose click this was and on which creative, for its conversions (the click
        id the advertiser gets carries neither), as long as the campaign takes conversions
        for it."""
        key = self._keys.click_user(campaign.id, impression_id)
        text = f"{user}:{creative_id}"  # a user key is hex: the first colon ends it
        try:
            await self._store.put_texts([(key, text, campaign.conversions.window_s)])
        except StoreUnavailable as exc:
            log.warning("profile_click_unlinked", campaign_id=campaign.id, error=str(exc))

    async def record_conversion(self, campaign: Campaign, impression_id: str) -> None:
        """Count a conversion in the profile of whoever made its click, if that click was
        remembered (its request allowed profiling)."""
        key = self._keys.click_user(campaign.id, impression_id)
        try:
            (text,) = await self._store.read_texts([key])
        except StoreUnavailable as exc:
            log.warning("profile_conversion_unlinked", campaign_id=campaign.id, error=str(exc))
            return
        if text:
            user, _, creative_id = text.partition(":")
            await self.record(ProfileEvent.CONVERSION, user, campaign, creative_id)
