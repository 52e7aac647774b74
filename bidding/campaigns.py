"""Campaigns and creatives: their config format and the frozen objects the router uses.

The ``routers`` part of the exchange's bidders file (read by ``app.bidders.config``) is
validated with these pydantic models at load time — a bad file fails with the field named,
before the exchange takes traffic; the router then works on frozen dataclasses whose money
is already integer micros.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openrtb.money import cpm_to_micros


class ConfigError(ValueError):
    """A campaign file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Creative:
    """One ad a campaign can show: a banner of one size."""

    id: str
    w: int
    h: int
    adm: str
    adomain: tuple[str, ...]
    cat: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as the router sees it; prices and budgets in integer micros."""

    id: str
    advertiser: str
    seat: str
    bid_cpm_micros: int
    daily_budget_micros: int
    time_zone: str
    creatives: tuple[Creative, ...]
    nurl: str | None = None
    burl: str | None = None
    lurl: str | None = None
    deal_ids: frozenset[str] = frozenset()
    """PMP deals the campaign buys through (bids carry the deal id when the imp offers one)."""


@dataclass(frozen=True, slots=True)
class RouterSpec:
    """A named router and the campaigns it hosts."""

    name: str
    campaigns: tuple[Campaign, ...]


class _CreativeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    w: int = Field(gt=0)
    h: int = Field(gt=0)
    adm: str
    adomain: list[str] = Field(min_length=1)
    cat: list[str] = []


class _CampaignFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    advertiser: str = Field(min_length=1)
    seat: str = Field(min_length=1)
    bid_cpm: Decimal = Field(gt=0, allow_inf_nan=False)
    daily_budget: Decimal = Field(gt=0, allow_inf_nan=False)
    time_zone: str = "UTC"
    creatives: list[_CreativeFile] = Field(min_length=1)
    nurl: str | None = None
    burl: str | None = None
    lurl: str | None = None
    deal_ids: list[Annotated[str, Field(min_length=1)]] = []

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class RouterFile(BaseModel):
    """An in-process router in a bidders file: its name and the campaigns it hosts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    campaigns: list[_CampaignFile]


def _campaign(raw: _CampaignFile) -> Campaign:
    return Campaign(
        id=raw.id,
        advertiser=raw.advertiser,
        seat=raw.seat,
        bid_cpm_micros=cpm_to_micros(raw.bid_cpm),
        daily_budget_micros=cpm_to_micros(raw.daily_budget),
        time_zone=raw.time_zone,
        creatives=tuple(
            Creative(c.id, c.w, c.h, c.adm, tuple(c.adomain), tuple(c.cat)) for c in raw.creatives
        ),
        nurl=raw.nurl,
        burl=raw.burl,
        lurl=raw.lurl,
        deal_ids=frozenset(raw.deal_ids),
    )


def router_specs(routers: Sequence[RouterFile], source: str) -> tuple[RouterSpec, ...]:
    """Validated router entries as RouterSpecs; ConfigError for duplicate names or ids."""
    names = [r.name for r in routers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: routers: names must be unique")
    ids = [c.id for r in routers for c in r.campaigns]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: campaigns: ids must be unique across routers")
    return tuple(RouterSpec(r.name, tuple(_campaign(c) for c in r.campaigns)) for r in routers)
