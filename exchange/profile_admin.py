"""What an operator may do with users' profiles: declare segments, read one, free of any
web framework (``app.routes.admin`` serves it).

A user is named by the identifier bid requests carry (``user.id``, ``user.buyeruid`` or
``device.ifa``); the exchange keys it with its secret (``openrtb.identity``) before it
touches the store, so the raw id is neither stored nor logged — answers show the key.
"""

from typing import Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bidding.profiles import DAY_S, KEEP_DAYS, ProfileEvent, UserProfile, utc_day
from exchange.profiles import ProfileBook

__all__ = ["ProfileLookup", "ProfileView", "SegmentChange", "change_segments", "lookup"]

_WINDOWS: Final = (1, 7, KEEP_DAYS)

SegmentName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
]
UserId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        description="The user's id as bid requests carry it: user.id, user.buyeruid or "
        "device.ifa (the first of them a request has is the one it is known by).",
    ),
]


class ProfileLookup(BaseModel):
    """Whose profile to read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UserId


class SegmentChange(BaseModel):
    """Segments to give a user (name → days it lasts) and to take away."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UserId
    add: dict[SegmentName, Annotated[int, Field(ge=1, le=KEEP_DAYS)]] = Field(
        default={}, max_length=64
    )
    remove: list[SegmentName] = Field(default=[], max_length=64)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.add and not self.remove:
            raise ValueError("nothing to change: give add or remove")
        if both := sorted(set(self.add) & set(self.remove)):
            raise ValueError(f"segments both added and removed: {', '.join(both)}")
        return self


class ProfileCount(BaseModel):
    event: str
    campaign: str | None = None
    category: str | None = None
    last_1_day: int
    last_7_days: int
    last_30_days: int


class ProfileView(BaseModel):
    user_key: str
    """The keyed hash the exchange knows the user by (never the raw id)."""
    segments: list[str]
    counts: list[ProfileCount]


def profile_view(user_key: str, profile: UserProfile, now_s: float) -> ProfileView:
    """A profile as an operator reads it: each count over the last 1, 7 and 30 days."""
    today = utc_day(now_s)
    counts = []
    for event, scope, value in sorted(profile.counts):
        kind = ProfileEvent(event)
        where = {"campaign": value} if scope == "cmp" else {"category": value}
        last = [
            profile.count(
                kind,
                campaign=where.get("campaign"),
                category=where.get("category"),
                within_days=days,
                today=today,
            )
            for days in _WINDOWS
        ]
        counts.append(
            ProfileCount(
                event=kind.name.lower(),
                **where,
                last_1_day=last[0],
                last_7_days=last[1],
                last_30_days=last[2],
            )
        )
    return ProfileView(user_key=user_key, segments=sorted(profile.segments), counts=counts)


async def lookup(book: ProfileBook, request: ProfileLookup, now_s: float) -> ProfileView:
    """The profile of the user named in ``request`` (StoreUnavailable propagates)."""
    user = book.user_keys.of_id(request.user_id)
    return profile_view(user, await book.read(user), now_s)


async def change_segments(book: ProfileBook, change: SegmentChange, now_s: float) -> ProfileView:
    """Apply ``change`` in one store step and answer the profile as it is afterwards."""
    user = book.user_keys.of_id(change.user_id)
    until = {name: int(now_s) + days * DAY_S for name, days in change.add.items()}
    await book.declare(user, until, change.remove)
    return profile_view(user, await book.read(user), now_s)
