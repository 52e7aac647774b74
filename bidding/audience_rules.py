"""Behavioural targeting: a campaign's rules over the user's profile (``bidding.profiles``).

In a campaign's ``audience`` list, every rule must hold::

    "audience": [
      {"event": "click", "category": "IAB20", "within_days": 7},
      {"event": "impression", "campaign": "self", "within_days": 1, "at_most": 2},
      {"segment": "auto-intender"}
    ]

An event rule counts one event (``impression``, ``click``, ``conversion``) of one campaign
(``self``: the campaign itself) or of ads in one IAB category, over the last
``within_days`` days (1 to ``KEEP_DAYS``), and holds when the count is within
[``at_least``, ``at_most``] (default: at least one; with only ``at_most``, from zero). A
segment rule holds while the user carries the declared segment. A campaign with any rule
bids only to users whose profile it could read: without consent or anyone to identify,
nothing can be checked — "clicked twice at most" must not match everyone the bidder knows
nothing about.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bidding.profiles import KEEP_DAYS, ProfileEvent, UserProfile

__all__ = ["AudienceRule", "AudienceRuleFile", "audience_holds"]

_EVENTS = {
    "impression": ProfileEvent.IMPRESSION,
    "click": ProfileEvent.CLICK,
    "conversion": ProfileEvent.CONVERSION,
}


@dataclass(frozen=True, slots=True)
class AudienceRule:
    """One rule, with ``self`` resolved to the campaign's id."""

    event: ProfileEvent | None = None
    campaign: str | None = None
    category: str | None = None
    within_days: int = KEEP_DAYS
    at_least: int = 1
    at_most: int | None = None
    segment: str | None = None

    def holds(self, profile: UserProfile, today: int) -> bool:
        """Whether the profile satisfies the rule today."""
        if self.segment is not None:
            return self.segment in profile.segments
        assert self.event is not None  # the file model guarantees one kind
        seen = profile.count(
            self.event,
            campaign=self.campaign,
            category=self.category,
            within_days=self.within_days,
            today=today,
        )
        return seen >= self.at_least and (self.at_most is None or seen <= self.at_most)


def audience_holds(rules: Sequence[AudienceRule], profile: UserProfile, today: int) -> bool:
    """Whether a campaign with ``rules`` may bid to the user of ``profile``."""
    if not rules:
        return True
    return profile.known and all(rule.holds(profile, today) for rule in rules)


class AudienceRuleFile(BaseModel):
    """A rule as written in a campaign's ``audience`` list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Literal["impression", "click", "conversion"] | None = None
    campaign: str | None = Field(default=None, min_length=1)
    category: str | None = Field(default=None, min_length=1, max_length=64)
    within_days: int = Field(default=KEEP_DAYS, ge=1, le=KEEP_DAYS)
    at_least: int | None = Field(default=None, ge=0)
    """Default: 1, or 0 when ``at_most`` is given ("at most two impressions today")."""
    at_most: int | None = Field(default=None, ge=0)
    segment: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.segment is not None:
            if self.event or self.campaign or self.category or self.at_most is not None:
                raise ValueError("a segment rule takes no event, campaign, category or at_most")
            return self
        if self.event is None:
            raise ValueError("a rule needs an event (impression, click, conversion) or a segment")
        if (self.campaign is None) == (self.category is None):
            raise ValueError("an event rule counts one campaign or one category")
        if self.at_most is not None and self.at_most < self.least:
            raise ValueError("at_most must not be below at_least")
        if self.least == 0 and self.at_most is None:
            raise ValueError("a rule with at_least 0 and no at_most holds for everyone")
        return self

    @property
    def least(self) -> int:
        """``at_least`` with its default filled in."""
        if self.at_least is not None:
            return self.at_least
        return 1 if self.at_most is None else 0

    def rule(self, campaign_id: str) -> AudienceRule:
        """The frozen rule of the campaign ``campaign_id``."""
        if self.segment is not None:
            return AudienceRule(segment=self.segment)
        assert self.event is not None
        return AudienceRule(
            event=_EVENTS[self.event],
            campaign=campaign_id if self.campaign == "self" else self.campaign,
            category=self.category,
            within_days=self.within_days,
            at_least=self.least,
            at_most=self.at_most,
        )
