"""Campaigns and creatives: their config format and the frozen objects the router uses.

The ``routers`` part of the exchange's bidders file (read by ``exchange.bidders.config``) is
validated with these pydantic models at load time — a bad file fails with the field named,
before the exchange takes traffic; the router then works on frozen dataclasses whose money
is already integer micros (configured amounts: their decimal text rounded half-up).

A campaign bids in one of two modes:

* **fixed price** (``bid_cpm``, no ``goal``): every matching impression gets the same CPM —
  the demo campaigns and the first router work this way;
* **value-based** (``goal`` of type ``cpc``, ``cpa`` or ``roi``, with a ``max_bid``): the bid is
  what the impression is worth under the goal (``bidding.valuation``), clipped to
  [``min_bid``, ``max_bid``]. ``bid_cpm_micros`` then holds the *rule-based* bid — the value at
  the campaign's historical CTR/CVR — which is what a router without models bids.

One campaign of the file, with every optional part::

    {"id": "acme-running", "advertiser": "Acme Shoes", "seat": "acme",
     "daily_budget": "250.00", "currency": "USD", "time_zone": "America/New_York",
     "flight": {"start": "2025-03-01", "end": "2025-05-31"},
     "goal": {"type": "roi", "conversion_value": "60.00", "target_roi": "4"},
     "min_bid": "0.20", "max_bid": "6.00",
     "historical_ctr": 0.002, "historical_cvr": 0.03,
     "frequency_cap": [{"count": 3, "per": "day"}, {"count": 1, "per": "hour"}],
     "audience": [{"event": "click", "category": "IAB18", "within_days": 7}],
     "targeting": {"country": {"allow": ["USA", "CAN"]}, "device_type": {"allow": [1, 4]},
                   "domain": {"block": ["tabloid.example"]}, "age": {"min": 18, "max": 54},
                   "dayparting": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                   "from_hour": 7, "to_hour": 22}]},
     "creatives": [{"id": "acme-300x250", "media_type": "banner", "w": 300, "h": 250,
                    "adm": "<a …>", "adomain": ["acme-shoes.example"], "cat": ["IAB18-3"],
                    "attr": [], "landing_url": "https://acme-shoes.example/running",
                    "ctr_prior": {"alpha": 2, "beta": 998}}],
     "conversions": {"max_per_click": 1, "max_value": "500.00", "window_days": 30,
                     "postback_secret": "…32 random bytes, hex…"}}

Flight dates are inclusive calendar days in the campaign's time zone; a frequency cap ``per``
``day`` counts the campaign's local calendar day, ``hour`` the clock hour. ``conversions``
bounds what the advertiser's postbacks may record (``app.routes.tracking``): by default one
conversion per click, worth at most 10,000 in the campaign's currency, within 30 days of the
click, unsigned. ``audience`` rules read the user's profile (``bidding.audience_rules``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bidding.audience_rules import AudienceRule, AudienceRuleFile
from bidding.experiment_config import Experiment, ExperimentFile
from bidding.exploration import BetaPrior
from bidding.targeting import ALL_HOURS, ANY, Dimension, ListRule, Targeting, hours_mask
from bidding.valuation import Goal, GoalKind, value_cpm_micros
from openrtb.money import cpm_to_micros

__all__ = [
    "Campaign",
    "ConfigError",
    "Creative",
    "FrequencyCap",
    "MediaType",
    "RouterFile",
    "RouterSpec",
    "router_specs",
]

MediaType = Literal["banner", "video", "audio", "native"]


class ConfigError(ValueError):
    """A campaign file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Creative:
    """One ad a campaign can show; ``w``×``h`` 0×0 means any size (video, audio, native)."""

    id: str
    w: int
    h: int
    adm: str
    adomain: tuple[str, ...]
    cat: tuple[str, ...]
    media_type: MediaType = "banner"
    attr: tuple[int, ...] = ()
    """IAB creative attributes (checked against the imp's ``battr``)."""
    landing_url: str | None = None
    ctr_prior: BetaPrior | None = None
    """Thompson-sampling prior of this creative's CTR; None: the campaign's weak default."""
    format_key: tuple[str, int, int] = field(init=False, repr=False, compare=False)
    """(media type, w, h): the key the campaign index files this creative under."""
    adomain_lower: frozenset[str] = field(init=False, repr=False, compare=False)
    """``adomain`` lower-cased, as the exchange compares it with ``badv``."""

    def __post_init__(self) -> None:
        # Derived once here: the creative check runs for every candidate of every request.
        object.__setattr__(self, "format_key", (self.media_type, self.w, self.h))
        object.__setattr__(self, "adomain_lower", frozenset(d.lower() for d in self.adomain))


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``count`` impressions per user per ``window`` (local day or clock hour)."""

    count: int
    window: Literal["day", "hour"]


@dataclass(frozen=True, slots=True)
class ConversionRules:
    """What the exchange accepts of an advertiser's conversion postbacks for a campaign."""

    max_per_click: int = 1
    max_value_micros: int = 10_000_000_000
    """A postback worth more than this (the campaign's currency) is refused."""
    window_s: int = 30 * 24 * 3600
    """A conversion more than this long after its click is refused."""
    postback_secret: bytes | None = None
    """When set, postbacks must carry ``x-rtb-signature: sha256=<hex HMAC of the body>``."""


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as the router sees it; prices and budgets in integer micros."""

    id: str
    advertiser: str
    seat: str
    bid_cpm_micros: int
    """Fixed-price mode: the CPM bid. Value-based mode: the rule-based bid (the value at the
    historical CTR/CVR, clipped to [min, max]) for a router without models."""
    daily_budget_micros: int
    time_zone: str
    creatives: tuple[Creative, ...]
    nurl: str | None = None
    burl: str | None = None
    lurl: str | None = None
    deal_ids: frozenset[str] = frozenset()
    """PMP deals the campaign buys through (bids carry the deal id when the imp offers one)."""
    currency: str = "USD"
    goal: Goal | None = None
    """None: fixed price (``bid_cpm_micros``); otherwise value-based bidding."""
    min_bid_cpm_micros: int = 0
    max_bid_cpm_micros: int | None = None
    flight_start: date | None = None
    flight_end: date | None = None
    """Inclusive last day of the flight, in the campaign's time zone."""
    frequency_caps: tuple[FrequencyCap, ...] = ()
    targeting: Targeting = ANY
    """Who and where (with the flight and dayparting in the campaign's zone)."""
    historical_ctr: float = 0.001
    historical_cvr: float = 0.01
    conversions: ConversionRules = ConversionRules()
    audience: tuple[AudienceRule, ...] = ()
    """Behavioural targeting over the user's profile (``bidding.audience_rules``)."""
    experiment: Experiment | None = None
    """An A/B test of the bid strategy (``bidding.experiment_config``)."""

    def ctr_prior(self, creative: Creative) -> BetaPrior:
        """The creative's configured prior, or a weak one at the campaign's historical CTR."""
        return creative.ctr_prior or BetaPrior.weak(self.historical_ctr)


@dataclass(frozen=True, slots=True)
class RouterSpec:
    """A named router and the campaigns it hosts."""

    name: str
    campaigns: tuple[Campaign, ...]


Price = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class _PriorFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(gt=0, allow_inf_nan=False)
    beta: float = Field(gt=0, allow_inf_nan=False)


class _CreativeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    media_type: MediaType = "banner"
    w: int | None = Field(default=None, gt=0)
    h: int | None = Field(default=None, gt=0)
    adm: str
    adomain: list[str] = Field(min_length=1)
    cat: list[str] = []
    attr: list[int] = []
    landing_url: str | None = None
    ctr_prior: _PriorFile | None = None

    @field_validator("landing_url")
    @classmethod
    def _landing(cls, value: str | None) -> str | None:
        return _url(value)

    @model_validator(mode="after")
    def _size(self) -> Self:
        if (self.w is None) != (self.h is None):
            raise ValueError("w and h go together")
        if self.media_type == "banner" and self.w is None:
            raise ValueError("a banner creative needs w and h")
        if self.media_type in ("audio", "native") and self.w is not None:
            raise ValueError(f"an {self.media_type} creative has no w and h")
        return self


class _StrRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    block: list[Annotated[str, Field(min_length=1)]] = []


class _IntRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1)
    block: list[Annotated[int, Field(ge=0)]] = []


class _AgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int | None = Field(default=None, ge=0, le=120)
    max: int | None = Field(default=None, ge=0, le=120)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("age min must not exceed max")
        return self


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _DaypartFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Day] = Field(min_length=1)
    from_hour: int = Field(ge=0, le=24)
    to_hour: int = Field(ge=0, le=24)
    """Exclusive; smaller than ``from_hour`` wraps past midnight."""

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.from_hour == self.to_hour:
            raise ValueError("from_hour and to_hour are equal: an empty daypart")
        return self


class _TargetingFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    country: _StrRule | None = None
    region: _StrRule | None = None
    city: _StrRule | None = None
    device_type: _IntRule | None = None
    os: _StrRule | None = None
    connection_type: _IntRule | None = None
    category: _StrRule | None = None
    domain: _StrRule | None = None
    bundle: _StrRule | None = None
    segment: _StrRule | None = None
    gender: _StrRule | None = None
    keyword: _StrRule | None = None
    content_rating: _StrRule | None = None
    """e.g. ``{"block": ["TV-MA", "MPAA R", "qag:3"]}``: the content's rating text or its
    IQG media rating (brand safety: campaigns that must not run next to mature content)."""
    age: _AgeFile | None = None
    dayparting: list[_DaypartFile] | None = Field(default=None, min_length=1)

    def build(self, time_zone: str, flight: "_FlightFile | None") -> Targeting:
        rules: dict[str, ListRule] = {}
        for dim in Dimension:
            raw = getattr(self, dim.label)
            if raw is not None:
                rules[dim.label] = ListRule.of(raw.allow, raw.block)
        hours = ALL_HOURS
        if self.dayparting is not None:
            hours = 0
            for part in self.dayparting:
                hours |= hours_mask(tuple(part.days), part.from_hour, part.to_hour)
        start_s, end_s = flight.bounds_s(time_zone) if flight else (None, None)
        return Targeting.build(
            rules,
            time_zone=time_zone,
            min_age=self.age.min if self.age else None,
            max_age=self.age.max if self.age else None,
            hours=hours,
            flight_start_s=start_s,
            flight_end_s=end_s,
        )


class _FlightFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("flight end is before its start")
        return self

    def bounds_s(self, time_zone: str) -> tuple[int | None, int | None]:
        """[local midnight of start, local midnight after end) as epoch seconds."""
        zone = ZoneInfo(time_zone)

        def midnight(day: date) -> int:
            return int(datetime.combine(day, clock_time(0), tzinfo=zone).timestamp())

        return (
            None if self.start is None else midnight(self.start),
            None if self.end is None else midnight(self.end + timedelta(days=1)),
        )


class _CpcGoal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["cpc"]
    target_cpc: Price

    def goal(self) -> Goal:
        return Goal(GoalKind.CPC, target_cpc_micros=cpm_to_micros(self.target_cpc))


class _CpaGoal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["cpa"]
    target_cpa: Price

    def goal(self) -> Goal:
        return Goal(GoalKind.CPA, target_cpa_micros=cpm_to_micros(self.target_cpa))


class _RoiGoal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["roi"]
    conversion_value: Price
    target_roi: Price

    def goal(self) -> Goal:
        return Goal(
            GoalKind.ROI,
            conversion_value_micros=cpm_to_micros(self.conversion_value),
            target_roi=float(self.target_roi),
        )


class _CapFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(gt=0)
    per: Literal["day", "hour"]


class _ConversionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_per_click: int = Field(default=1, ge=1, le=1000)
    max_value: Price = Decimal("10000")
    window_days: int = Field(default=30, ge=1, le=365)
    postback_secret: SecretStr | None = Field(default=None, min_length=16)

    def rules(self) -> ConversionRules:
        secret = self.postback_secret
        return ConversionRules(
            max_per_click=self.max_per_click,
            max_value_micros=cpm_to_micros(self.max_value),
            window_s=self.window_days * 24 * 3600,
            postback_secret=secret.get_secret_value().encode() if secret else None,
        )


class _CampaignFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    advertiser: str = Field(min_length=1)
    seat: str = Field(min_length=1)
    bid_cpm: Price | None = None
    daily_budget: Price
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    time_zone: str = "UTC"
    flight: _FlightFile | None = None
    goal: Annotated[_CpcGoal | _CpaGoal | _RoiGoal, Field(discriminator="type")] | None = None
    min_bid: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None
    max_bid: Price | None = None
    historical_ctr: Rate = 0.001
    historical_cvr: Rate = 0.01
    frequency_cap: list[_CapFile] = []
    targeting: _TargetingFile = _TargetingFile()
    creatives: list[_CreativeFile] = Field(min_length=1)
    nurl: str | None = None
    burl: str | None = None
    lurl: str | None = None
    deal_ids: list[Annotated[str, Field(min_length=1)]] = []
    conversions: _ConversionsFile = _ConversionsFile()
    audience: list[AudienceRuleFile] = Field(default=[], max_length=16)
    experiment: ExperimentFile | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> Self:
        if (self.bid_cpm is None) == (self.goal is None):
            raise ValueError("set either bid_cpm (fixed price) or goal (value-based), not both")
        if self.goal is not None and self.max_bid is None:
            raise ValueError("max_bid is required with a goal (it caps what a model can bid)")
        if self.min_bid is not None and self.max_bid is not None and self.min_bid > self.max_bid:
            raise ValueError("min_bid must not exceed max_bid")
        if self.experiment is not None and self.goal is None:
            raise ValueError("experiment: its variants scale a value-based bid; set a goal")
        windows = [cap.per for cap in self.frequency_cap]
        if len(set(windows)) != len(windows):
            raise ValueError("frequency_cap: one cap per window")
        return self


class RouterFile(BaseModel):
    """An in-process router in a bidders file: its name and the campaigns it hosts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    campaigns: list[_CampaignFile]


def _creative(raw: _CreativeFile) -> Creative:
    return Creative(
        raw.id,
        raw.w or 0,
        raw.h or 0,
        raw.adm,
        tuple(raw.adomain),
        tuple(raw.cat),
        media_type=raw.media_type,
        attr=tuple(raw.attr),
        landing_url=raw.landing_url,
        ctr_prior=BetaPrior(raw.ctr_prior.alpha, raw.ctr_prior.beta) if raw.ctr_prior else None,
    )


def _rule_based_bid(raw: _CampaignFile, goal: Goal, low: int, high: int) -> int:
    """The value at the historical CTR/CVR, clipped: the bid of a router without models."""
    return min(max(value_cpm_micros(goal, raw.historical_ctr, raw.historical_cvr), low), high)


def _campaign(raw: _CampaignFile, where: str) -> Campaign:
    goal = raw.goal.goal() if raw.goal is not None else None
    low = cpm_to_micros(raw.min_bid) if raw.min_bid is not None else 0
    high = cpm_to_micros(raw.max_bid) if raw.max_bid is not None else None
    if goal is None:
        assert raw.bid_cpm is not None  # the model validator guarantees one mode
        bid = cpm_to_micros(raw.bid_cpm)
    else:
        assert high is not None
        bid = _rule_based_bid(raw, goal, low, high)
        if bid <= 0:
            raise ConfigError(f"{where}.historical_ctr: the rule-based bid rounds to zero")
    flight = raw.flight
    return Campaign(
        id=raw.id,
        advertiser=raw.advertiser,
        seat=raw.seat,
        bid_cpm_micros=bid,
        daily_budget_micros=cpm_to_micros(raw.daily_budget),
        time_zone=raw.time_zone,
        creatives=tuple(_creative(c) for c in raw.creatives),
        nurl=raw.nurl,
        burl=raw.burl,
        lurl=raw.lurl,
        deal_ids=frozenset(raw.deal_ids),
        currency=raw.currency,
        goal=goal,
        min_bid_cpm_micros=low,
        max_bid_cpm_micros=high,
        flight_start=flight.start if flight else None,
        flight_end=flight.end if flight else None,
        frequency_caps=tuple(FrequencyCap(c.count, c.per) for c in raw.frequency_cap),
        targeting=raw.targeting.build(raw.time_zone, flight),
        historical_ctr=raw.historical_ctr,
        historical_cvr=raw.historical_cvr,
        conversions=raw.conversions.rules(),
        audience=tuple(rule.rule(raw.id) for rule in raw.audience),
        experiment=raw.experiment.build() if raw.experiment is not None else None,
    )


def router_specs(routers: Sequence[RouterFile], source: str) -> tuple[RouterSpec, ...]:
    """Validated router entries as RouterSpecs; ConfigError for duplicate names or ids."""
    names = [r.name for r in routers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: routers: names must be unique")
    ids = [c.id for r in routers for c in r.campaigns]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: campaigns: ids must be unique across routers")
    for r in routers:
        for c in r.campaigns:
            creative_ids = [k.id for k in c.creatives]
            if len(set(creative_ids)) != len(creative_ids):
                raise ConfigError(f"{source}: campaign {c.id}: creatives: ids must be unique")
    return tuple(
        RouterSpec(
            r.name,
            tuple(
                _campaign(c, f"{source}: routers.{i}.campaigns.{j}")
                for j, c in enumerate(r.campaigns)
            ),
        )
        for i, r in enumerate(routers)
    )
