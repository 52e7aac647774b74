"""A user's profile as the bidder reads it: recent events per campaign and category, and
declared segments.

The record (``budget.profile_write``) counts events per UTC day in fields
``e:<day>:<event>:<scope>:<value>`` — event ``imp``, ``click`` or ``conv``; scope ``cmp``
(a campaign id) or ``cat`` (an IAB category of the ad) — and holds declared segments as
``s:<segment>`` with their expiry. A window of N days is today and the N − 1 days before
it, so "in the last 7 days" moves by whole days; days older than ``KEEP_DAYS`` are pruned.
Pure: the store I/O is ``exchange.profiles``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from bidding.features import ProfileCounts
from budget.profile_write import EVENT_PREFIX, SEGMENT_PREFIX

__all__ = [
    "DAY_S",
    "EMPTY_PROFILE",
    "KEEP_DAYS",
    "ProfileEvent",
    "UserProfile",
    "event_fields",
    "segment_field",
    "utc_day",
]

KEEP_DAYS: Final = 30
"""The longest window a rule or feature may look back over, in days."""
DAY_S: Final = 86_400
"""Seconds in a UTC day: what the profile's windows and expiries count in."""


class ProfileEvent(StrEnum):
    """What a profile counts."""

    IMPRESSION = "imp"
    CLICK = "click"
    CONVERSION = "conv"


def utc_day(now_s: float) -> int:
    """The UTC day number of a Unix time (days since 1970-01-01)."""
    return int(now_s // DAY_S)


def event_fields(
    event: ProfileEvent, day: int, campaign_id: str, categories: Iterable[str]
) -> list[tuple[str, int]]:
    """The increments one event makes: its campaign's count and each category's, once."""
    prefix = f"{EVENT_PREFIX}{day}:{event.value}:"
    out = [(f"{prefix}cmp:{campaign_id}", 1)]
    out += [(f"{prefix}cat:{category}", 1) for category in dict.fromkeys(categories) if category]
    return out


def segment_field(segment: str) -> str:
    """The field of one declared segment (its value: the Unix second it expires)."""
    return f"{SEGMENT_PREFIX}{segment}"


_Scope = tuple[str, str, str]
"""(event, scope, value): ``("click", "cat", "IAB20")``."""


@dataclass(frozen=True, slots=True)
class UserProfile:
    """Counts by (event, scope, value) and day, and the segments alive when it was read."""

    counts: Mapping[_Scope, Sequence[tuple[int, int]]] = field(default_factory=dict)
    segments: frozenset[str] = frozenset()
    known: bool = True
    """False when no profile could be read (no consent, nobody identified, no store)."""

    @classmethod
    def parse(cls, record: Mapping[str, str], now_s: float) -> "UserProfile":
        """The profile in a stored record; fields it does not understand are skipped."""
        oldest = utc_day(now_s) - KEEP_DAYS + 1
        counts: dict[_Scope, list[tuple[int, int]]] = {}
        segments = []
        for name, value in record.items():
            if name.startswith(EVENT_PREFIX):
                parts = name.split(":", 4)
                if len(parts) != 5 or not parts[1].isdigit() or not value.lstrip("-").isdigit():
                    continue
                day = int(parts[1])
                if day >= oldest:
                    counts.setdefault((parts[2], parts[3], parts[4]), []).append((day, int(value)))
            elif name.startswith(SEGMENT_PREFIX) and value.isdigit() and int(value) > now_s:
                segments.append(name[len(SEGMENT_PREFIX) :])
        return cls(counts, frozenset(segments))

    def count(
        self,
        event: ProfileEvent,
        *,
        campaign: str | None = None,
        category: str | None = None,
        within_days: int,
        today: int,
    ) -> int:
        """Events of one campaign (or of ads in one category) in the last ``within_days``
        days, today included."""
        if campaign is not None:
            scope: _Scope = (event.value, "cmp", campaign)
        elif category is not None:
            scope = (event.value, "cat", category)
        else:
            raise ValueError("count needs a campaign or a category")
        first = today - within_days + 1
        return sum(n for day, n in self.counts.get(scope, ()) if first <= day <= today)

    def total(self, event: ProfileEvent, scope: str, *, within_days: int, today: int) -> int:
        """Events of any campaign (``scope`` ``cmp``) or category (``cat``) in the window."""
        first = today - within_days + 1
        return sum(
            n
            for (kind, where, _), days in self.counts.items()
            if kind == event.value and where == scope
            for day, n in days
            if first <= day <= today
        )

    def feature_counts(self, today: int) -> ProfileCounts | None:
        """The counts the models read (``bidding.features.PROFILE_COLUMNS``); None for a
        profile that could not be read, so the models see it missing, not as zeros."""
        if not self.known:
            return None
        return ProfileCounts(
            self.total(ProfileEvent.IMPRESSION, "cmp", within_days=1, today=today),
            self.total(ProfileEvent.IMPRESSION, "cmp", within_days=KEEP_DAYS, today=today),
            self.total(ProfileEvent.CLICK, "cmp", within_days=KEEP_DAYS, today=today),
            self.total(ProfileEvent.CONVERSION, "cmp", within_days=KEEP_DAYS, today=today),
        )


EMPTY_PROFILE: Final = UserProfile(known=False)
"""What a bidder knows of a user it may not (or cannot) profile."""
