"""What an operator may change in a running exchange, and read of its money, free of any
web framework (``app.routes.admin`` is the HTTP layer over it).

An operator changes a campaign's budget, fixed price, goal targets or bid bounds, pauses or
resumes it, turns a bidder on or off, reloads the models, and reads a campaign's spend,
holds and pacing. A change is validated whole before anything moves (``InvalidChange``
names the field; nothing changed), then applied in one step without an ``await``, so the
next auction sees all of it and none sees half: the router swaps its campaigns
(``CampaignRouter.replace_campaigns``), the notices charge against the new budget
(``BidderRegistry.replace_campaign``) and pacing plans with it from its next tick. Every
applied change is an event on the event stream (``admin_campaign_changed``,
``admin_bidder_changed``, ``admin_models_reloaded``) with the values before and after.

Money at this edge is a decimal amount in the exchange currency (``"250.50"``), converted
exactly to integer micros: more than six decimals, a JSON number with a binary fraction,
zero or a negative amount are refused rather than rounded.

Every process sharing the counter store gets the change: an accepted change is first
written to the store as the campaign's (or bidder's) override — its full resulting values,
under a version the store counts up (``KeySpace.overrides``) — and only then applied here;
a store that does not answer refuses the call (``StoreUnavailable``) with nothing changed.
Every process polls the overrides (``sync_overrides``, every ``RTB_ADMIN_SYNC_S`` and once
at start-up, before traffic) and applies a newer version through the same ``apply_*``
methods; the event is emitted only by the process that took the call. The bidders file
stays the base and is never rewritten: the store holds the operator's overrides on it, and
a dropped override (``drop_campaign_override``) sends every process back to the file's values.
"""

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Self

import structlog
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

from bidding.campaigns import Campaign
from bidding.router import CampaignRouter
from bidding.strategy import participation_of
from bidding.valuation import Goal, GoalKind, value_cpm_micros
from budget.days import campaign_day
from budget.keys import KeySpace
from budget.store import StoreUnavailable
from exchange.model_reload import reload_models
from exchange.services import Services
from openrtb.money import cpm_to_micros

log = structlog.get_logger("exchange.admin")

MICROS: Final = Decimal(1_000_000)
MAX_AMOUNT: Final = Decimal(1_000_000_000)
"""The largest amount an operator may set (a billion units: 10¹⁵ micros, far inside the
store's 64-bit counters)."""
_AMOUNT_PATTERN: Final = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"


def _exact_decimal(value: object) -> object:
    """Money comes as a decimal string, an integer or a Decimal (``app.routes.admin`` reads
    JSON numbers as decimals); a float is already rounded to binary, so it is refused
    rather than guessed at."""
    if isinstance(value, bool | float):
        raise ValueError('give the amount as a decimal string, e.g. "250.50"')
    if isinstance(value, str | int | Decimal):
        return value
    raise ValueError("must be a decimal string or number")


def _amount_schema(example: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "pattern": _AMOUNT_PATTERN},
            {"type": "integer", "minimum": 1, "maximum": int(MAX_AMOUNT)},
        ],
        "examples": [example],
    }


Amount = Annotated[
    Decimal,
    BeforeValidator(_exact_decimal),
    Field(gt=0, le=MAX_AMOUNT, decimal_places=6, allow_inf_nan=False),
]
"""A positive amount of money in currency units, at most six decimals (one micro)."""


def _amount(example: str) -> Any:
    return WithJsonSchema(_amount_schema(example))


class CampaignChange(BaseModel):
    """The fields of a campaign an operator may change; the ones left out stay as they are.
    Amounts are in the exchange currency, as decimal strings (``"250.50"``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"daily_budget": "300.00"}, {"enabled": False}]},
    )

    enabled: StrictBool | None = Field(
        default=None, description="false pauses the campaign (it stops bidding), true resumes"
    )
    daily_budget: Annotated[Amount, _amount("300.00")] | None = Field(
        default=None, description="budget of each campaign day, from this moment on"
    )
    bid_cpm: Annotated[Amount, _amount("2.75")] | None = Field(
        default=None, description="the CPM of a fixed-price campaign"
    )
    min_bid: Annotated[Amount, _amount("0.10")] | None = Field(
        default=None, description="the lowest CPM a value-based campaign bids"
    )
    max_bid: Annotated[Amount, _amount("6.00")] | None = Field(
        default=None, description="the highest CPM a value-based campaign bids"
    )
    target_cpc: Annotated[Amount, _amount("0.80")] | None = Field(
        default=None, description="a CPC goal's target cost per click"
    )
    target_cpa: Annotated[Amount, _amount("25.00")] | None = Field(
        default=None, description="a CPA goal's target cost per conversion"
    )
    conversion_value: Annotated[Amount, _amount("60.00")] | None = Field(
        default=None, description="an ROI goal's value of one conversion"
    )
    target_roi: Annotated[Amount, _amount("4")] | None = Field(
        default=None, description="an ROI goal's revenue wanted per unit of spend"
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("nothing to change: give at least one field")
        return self


class BidderChange(BaseModel):
    """Whether the fan-out calls a bidder."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [{"enabled": False}]}
    )

    enabled: StrictBool


class GoalView(BaseModel):
    """A value-based campaign's goal; amounts in the exchange currency."""

    type: Literal["cpc", "cpa", "roi"]
    target_cpc: str | None = None
    target_cpa: str | None = None
    conversion_value: str | None = None
    target_roi: str | None = None


class CampaignView(BaseModel):
    """An in-process campaign as it bids now. Amounts as decimal strings in the exchange
    currency, and exactly in integer micros beside them."""

    id: str
    bidder: str
    advertiser: str
    seat: str
    enabled: bool
    mode: Literal["fixed", "value"]
    currency: str
    time_zone: str
    daily_budget: str
    daily_budget_micros: int
    bid_cpm: str
    """Fixed price: the bid; value-based: the bid without models (at the historical rates)."""
    bid_cpm_micros: int
    goal: GoalView | None = None
    min_bid: str | None = None
    max_bid: str | None = None
    flight_start: date | None = None
    flight_end: date | None = None
    creatives: list[str]
    frequency_caps: list[dict[str, int | str]]


class CampaignList(BaseModel):
    campaigns: list[CampaignView]


class PacingView(BaseModel):
    """The pacing controller's view of the campaign as of its last step in this process."""

    multiplier: float
    """Scales value-based bids (1/64–2; ``bidding.strategy``)."""
    participation: float
    """Probability that the campaign takes part in a request it fits (a fixed-price
    campaign's own: it has no multiplier)."""
    level: float | None = None
    """The controller's level u (None: not stepped yet today)."""
    stepped_at: float | None = None
    """Epoch seconds of the last step (None: not yet)."""
    planned_micros: int | None = None
    """The spend its plan wants by now (None: no plan yet)."""


class CampaignState(BaseModel):
    """A campaign's money on its current day, read from the counter store now."""

    id: str
    day: str
    """The campaign's calendar day in its own time zone."""
    enabled: bool
    daily_budget_micros: int
    spend_micros: int
    """Settled: charged by billing or win notices."""
    held_micros: int
    """Held for bids in flight (released when lost, settled when billed, or expiring)."""
    remaining_micros: int
    """Budget − spend − held (0 when a lowered budget is already spent)."""
    spend: str
    held: str
    remaining: str
    pacing: PacingView | None = None


class BidderView(BaseModel):
    name: str
    kind: Literal["in-process", "external"]
    enabled: bool


class BidderList(BaseModel):
    bidders: list[BidderView]


class ModelReloadResult(BaseModel):
    swapped: bool
    """Whether new models were swapped in (False: the files are unchanged or refused)."""
    degraded: bool
    """Whether the live models include a historical-average stand-in."""
    path: str
    """The scoring path of the live models (``compiled``, ``xgboost-c``, ``xgboost``, ``rules``)."""
    error: str | None = None
    """Why the last load was refused (None: it was not)."""


class AdminError(Exception):
    """A refused admin call: the field at fault and why; nothing was changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(AdminError):
    """No such campaign, bidder or models."""


class InvalidChange(AdminError):
    """A change that does not fit the campaign (a goal target of another goal, min above
    max, a price above the exchange's maximum)."""


def micros_text(micros: int) -> str:
    """Integer micros as an exact decimal amount, at least two decimals: 1250 → "0.00125"."""
    text = f"{Decimal(micros).scaleb(-6):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{whole}.{fraction}"


def _micros(amount: Decimal) -> int:
    """An amount already checked to six decimals, exactly in micros."""
    micros = amount * MICROS
    assert micros == micros.to_integral_value()
    return int(micros)


class Admin:
    """The operator's view of one process's Services; it holds no state of its own (the
    routers, the exchange and the registry do), so one may be made per call."""

    def __init__(self, services: Services, clock: Callable[[], float] = time.time) -> None:
        self._services = services
        self._clock = clock
        self._max_bid_micros = cpm_to_micros(services.settings.max_bid_cpm)
        self._keys = KeySpace(services.settings.key_prefix)

    # Campaigns

    def _routers(self) -> list[CampaignRouter]:
        return [
            b for b in self._services.registry.bidders.values() if isinstance(b, CampaignRouter)
        ]

    def _find(self, campaign_id: str) -> tuple[CampaignRouter, Campaign]:
        for router in self._routers():
            for campaign in router.campaigns:
                if campaign.id == campaign_id:
                    return router, campaign
        raise NotFound("campaign_id", f"no in-process campaign {campaign_id!r}")

    def campaigns(self) -> CampaignList:
        """Every in-process campaign, router by router, in file order."""
        return CampaignList(
            campaigns=[
                _view(router, campaign)
                for router in self._routers()
                for campaign in router.campaigns
            ]
        )

    def campaign(self, campaign_id: str) -> CampaignView:
        router, campaign = self._find(campaign_id)
        return _view(router, campaign)

    async def change_campaign(self, campaign_id: str, change: CampaignChange) -> CampaignView:
        """Apply ``change`` to the campaign in every process sharing the store, or refuse it
        whole (``InvalidChange``, ``NotFound``, ``StoreUnavailable``) with nothing changed."""
        router, before = self._find(campaign_id)
        after = _changed(before, change, self._max_bid_micros)
        was_enabled = campaign_id not in router.paused
        enabled = was_enabled if change.enabled is None else change.enabled
        old, new = _money(before, was_enabled), _money(after, enabled)
        entry = CAMPAIGN_ENTRY + campaign_id
        version = await self._services.store.put_versioned(
            self._keys.overrides, entry, json.dumps(new, sort_keys=True)
        )
        self.apply_campaign(campaign_id, version, new)
        changed = {name: value for name, value in new.items() if old.get(name) != value}
        self._services.events.emit(
            "admin_campaign_changed",
            bidder=router.name,
            campaign_id=campaign_id,
            before=json.dumps({name: old.get(name) for name in changed}, sort_keys=True),
            after=json.dumps(changed, sort_keys=True),
        )
        log.info("admin_campaign_changed", bidder=router.name, campaign_id=campaign_id, **changed)
        return self.campaign(campaign_id)

    async def drop_campaign_override(self, campaign_id: str) -> CampaignView:
        """Send the campaign back to the bidders file's values in every process sharing the
        store (``StoreUnavailable``: nothing changed); an event when that changes it here."""
        router, before = self._find(campaign_id)
        old = _money(before, campaign_id not in router.paused)
        version = await self._services.store.put_versioned(
            self._keys.overrides, CAMPAIGN_ENTRY + campaign_id, "null"
        )
        self.apply_campaign(campaign_id, version, None)
        router, after = self._find(campaign_id)
        new = _money(after, campaign_id not in router.paused)
        changed = {name: value for name, value in new.items() if old.get(name) != value}
        if changed:
            self._services.events.emit(
                "admin_campaign_changed",
                bidder=router.name,
                campaign_id=campaign_id,
                before=json.dumps({name: old.get(name) for name in changed}, sort_keys=True),
                after=json.dumps(changed, sort_keys=True),
            )
        log.info("admin_campaign_override_dropped", campaign_id=campaign_id, **changed)
        return _view(router, after)

    def apply_campaign(
        self, campaign_id: str, version: int, fields: Mapping[str, Any] | None
    ) -> bool:
        """Make the campaign bid with ``fields`` (``_money``'s full values; None: the
        bidders file's) everywhere this process uses it, unless a version as new is applied
        already; whether it did. The one way a change lands, from this process's call or
        from the poll; ``InvalidChange`` when the fields do not fit the campaign (the
        bidders file changed its mode)."""
        entry = CAMPAIGN_ENTRY + campaign_id
        state = self._services.overrides
        if version <= state.versions.get(entry, 0):
            return False
        router, before = self._find(campaign_id)
        base = state.campaign_bases.get(campaign_id)
        if fields is None:
            if base is None:  # never overridden here: it bids with the file's values
                state.versions[entry] = version
                return True
            fields = _money(*base)
        after = _overridden(before, fields)
        paused = (
            router.paused - {campaign_id} if fields["enabled"] else router.paused | {campaign_id}
        )
        # Checked above; from here on nothing awaits and nothing is refused.
        if base is None:
            state.campaign_bases[campaign_id] = (before, campaign_id not in router.paused)
        router.replace_campaigns(
            tuple(after if c.id == campaign_id else c for c in router.campaigns), paused
        )
        self._services.registry.replace_campaign(router.name, after)
        if self._services.pacer is not None:
            self._services.pacer.replace_campaign(after)
        state.versions[entry] = version
        return True

    async def campaign_state(self, campaign_id: str) -> CampaignState:
        """Today's spend and holds from the store (one round trip; StoreUnavailable when it
        does not answer) and the pacing controller's last step."""
        router, campaign = self._find(campaign_id)
        now_s = self._clock()
        day = campaign_day(now_s, campaign.time_zone)
        account = self._keys.account(campaign.id, day)
        spend, held = await self._services.store.read_many([account.spend, account.held])
        remaining = max(0, campaign.daily_budget_micros - spend - held)
        return CampaignState(
            id=campaign.id,
            day=day,
            enabled=campaign.id not in router.paused,
            daily_budget_micros=campaign.daily_budget_micros,
            spend_micros=spend,
            held_micros=held,
            remaining_micros=remaining,
            spend=micros_text(spend),
            held=micros_text(held),
            remaining=micros_text(remaining),
            pacing=self._pacing(campaign, now_s),
        )

    def _pacing(self, campaign: Campaign, now_s: float) -> PacingView | None:
        pacer = self._services.pacer
        if pacer is None:
            return None
        advice = pacer.peek(campaign.id)
        state = pacer.state(campaign.id)
        plan = pacer.plan(campaign.id)
        stepped = state is not None and state.updated_s > 0
        return PacingView(
            multiplier=advice.multiplier,
            participation=participation_of(advice, campaign.goal is not None),
            level=state.u if state is not None and stepped else None,
            stepped_at=state.updated_s if state is not None and stepped else None,
            planned_micros=(
                plan.planned_micros(campaign.daily_budget_micros, now_s)
                if plan is not None
                else None
            ),
        )

    # Bidders

    def bidders(self) -> BidderList:
        services = self._services
        disabled = services.exchange.disabled
        return BidderList(
            bidders=[
                BidderView(
                    name=name,
                    kind="in-process" if name in services.registry.in_process else "external",
                    enabled=name not in disabled,
                )
                for name in services.registry.bidders
            ]
        )

    async def change_bidder(self, name: str, change: BidderChange) -> BidderView:
        """Call the bidder in the auctions from now on, or leave it out of the fan-out, in
        every process sharing the store (``StoreUnavailable``: nothing changed)."""
        services = self._services
        if name not in services.registry.bidders:
            raise NotFound("name", f"no bidder {name!r}")
        was = name not in services.exchange.disabled
        version = await services.store.put_versioned(
            self._keys.overrides, BIDDER_ENTRY + name, json.dumps({"enabled": change.enabled})
        )
        self.apply_bidder(name, version, change.enabled)
        if was != change.enabled:
            services.events.emit(
                "admin_bidder_changed", bidder=name, before=int(was), after=int(change.enabled)
            )
            log.info("admin_bidder_changed", bidder=name, enabled=change.enabled)
        kind: Literal["in-process", "external"] = (
            "in-process" if name in services.registry.in_process else "external"
        )
        return BidderView(name=name, kind=kind, enabled=name not in services.exchange.disabled)

    async def drop_bidder_override(self, name: str) -> BidderView:
        """Call the bidder again as the bidders file says, in every process sharing the
        store (``StoreUnavailable``: nothing changed)."""
        services = self._services
        if name not in services.registry.bidders:
            raise NotFound("name", f"no bidder {name!r}")
        was = name not in services.exchange.disabled
        version = await services.store.put_versioned(
            self._keys.overrides, BIDDER_ENTRY + name, "null"
        )
        self.apply_bidder(name, version, None)
        enabled = name not in services.exchange.disabled
        if was != enabled:
            services.events.emit(
                "admin_bidder_changed", bidder=name, before=int(was), after=int(enabled)
            )
        log.info("admin_bidder_override_dropped", bidder=name, enabled=enabled)
        kind: Literal["in-process", "external"] = (
            "in-process" if name in services.registry.in_process else "external"
        )
        return BidderView(name=name, kind=kind, enabled=enabled)

    def apply_bidder(self, name: str, version: int, enabled: bool | None) -> bool:
        """Turn the bidder on or off here (None: as before its first override here) unless
        a version as new is applied already."""
        services = self._services
        if name not in services.registry.bidders:
            raise NotFound("name", f"no bidder {name!r}")
        state = services.overrides
        entry = BIDDER_ENTRY + name
        if version <= state.versions.get(entry, 0):
            return False
        base = state.bidder_bases.setdefault(name, name not in services.exchange.disabled)
        services.exchange.set_enabled(name, base if enabled is None else bool(enabled))
        state.versions[entry] = version
        return True

    # Models

    async def reload_models(self) -> ModelReloadResult:
        """Read the model files again now, as the hot reload does when they change (a file
        that is worse than the live model is refused, the live one kept)."""
        holder = self._services.models
        if holder is None:
            raise NotFound("models", "this exchange scores without models")
        swapped = await reload_models(holder, only_if_changed=False)
        self._services.events.emit(
            "admin_models_reloaded",
            swapped=int(swapped),
            path=holder.scoring_path,
            error=holder.last_error,
        )
        return ModelReloadResult(
            swapped=swapped,
            degraded=holder.degraded,
            path=holder.scoring_path,
            error=holder.last_error,
        )


CAMPAIGN_ENTRY: Final = "campaign:"
BIDDER_ENTRY: Final = "bidder:"


async def sync_overrides(services: Services) -> int:
    """Apply the store's overrides newer than this process's (one HMGET of the version
    counter when nothing changed; the whole hash when it did); how many were applied.
    StoreUnavailable: nothing read, the last applied state stays. An entry that no longer
    fits this process (a campaign or bidder not in its file, another bidding mode) is
    logged and skipped, not retried."""
    state = services.overrides
    key = KeySpace(services.settings.key_prefix).overrides
    head = await services.store.read_record(key, ["version"])
    if int(head.get("version", "0")) <= state.seen:
        return 0
    record = await services.store.read_record(key)
    admin = Admin(services)
    count = 0
    for entry, text in record.items():
        if entry == "version":
            continue
        try:
            version, fields = json.loads(text)  # fields None: the override was dropped
            if entry.startswith(CAMPAIGN_ENTRY):
                done = admin.apply_campaign(entry.removeprefix(CAMPAIGN_ENTRY), version, fields)
            elif entry.startswith(BIDDER_ENTRY):
                enabled = None if fields is None else fields["enabled"]
                done = admin.apply_bidder(entry.removeprefix(BIDDER_ENTRY), version, enabled)
            else:
                continue
        except (AdminError, ValueError, TypeError, KeyError) as exc:
            log.warning("admin_override_skipped", entry=entry, error=str(exc))
            state.versions[entry] = max(state.versions.get(entry, 0), _version(text))
            continue
        if done:
            count += 1
            log.info("admin_override_applied", entry=entry, version=version)
    state.seen = int(record.get("version", "0"))
    return count


def _version(text: str) -> int:
    try:
        return int(json.loads(text)[0])
    except (ValueError, TypeError, KeyError, IndexError):
        return 0


async def watch_overrides(services: Services, interval_s: float) -> None:
    """``sync_overrides`` every ``interval_s`` until cancelled or closed (the flag ends it
    even when a cancellation is absorbed by a store call's timeout, as pacing's loop)."""
    state = services.overrides
    while not state.closing:
        await asyncio.sleep(interval_s)
        if state.closing:
            break
        try:
            await sync_overrides(services)
        except StoreUnavailable:
            pass  # the last applied state stays; the next poll tries again
        except Exception as exc:  # a bug must not stop the poll for the process's life
            log.error("admin_override_poll_crashed", error=repr(exc))


def _overridden(campaign: Campaign, fields: Mapping[str, Any]) -> Campaign:
    """The campaign with an override's full values (``_money``'s fields, in micros);
    InvalidChange when they are not this campaign's fields (another bidding mode)."""
    if set(fields) != set(_money(campaign, True)):
        raise InvalidChange("override", f"does not fit campaign {campaign.id}")
    updates: dict[str, Any] = {
        "daily_budget_micros": int(fields["daily_budget_micros"]),
        "bid_cpm_micros": int(fields["bid_cpm_micros"]),
    }
    goal = campaign.goal
    if goal is not None:
        updates["min_bid_cpm_micros"] = int(fields["min_bid_micros"])
        updates["max_bid_cpm_micros"] = int(fields["max_bid_micros"])
        if goal.kind is GoalKind.CPC:
            goal = replace(goal, target_cpc_micros=int(fields["target_cpc_micros"]))
        elif goal.kind is GoalKind.CPA:
            goal = replace(goal, target_cpa_micros=int(fields["target_cpa_micros"]))
        else:
            goal = replace(
                goal,
                conversion_value_micros=int(fields["conversion_value_micros"]),
                target_roi=float(fields["target_roi"]),
            )
        updates["goal"] = goal
    return replace(campaign, **updates)


def _changed(campaign: Campaign, change: CampaignChange, max_bid_micros: int) -> Campaign:
    """The campaign with ``change`` applied; InvalidChange naming the field when it does not
    fit the campaign's bidding mode or bounds."""
    updates: dict[str, Any] = {}
    if change.daily_budget is not None:
        updates["daily_budget_micros"] = _micros(change.daily_budget)
    goal = campaign.goal
    limit = f"the exchange's maximum bid ({micros_text(max_bid_micros)}, RTB_MAX_BID_CPM)"
    if goal is None:
        for name in ("min_bid", "max_bid", *_TARGETS):
            if getattr(change, name) is not None:
                raise InvalidChange(name, f"campaign {campaign.id} bids a fixed price (bid_cpm)")
        if change.bid_cpm is not None:
            bid = _micros(change.bid_cpm)
            if bid > max_bid_micros:
                raise InvalidChange("bid_cpm", f"above {limit}")
            updates["bid_cpm_micros"] = bid
        return replace(campaign, **updates)
    if change.bid_cpm is not None:
        raise InvalidChange(
            "bid_cpm", f"campaign {campaign.id} bids on value ({goal.kind.value} goal)"
        )
    new_goal = _goal(campaign.id, goal, change)
    low = _micros(change.min_bid) if change.min_bid is not None else campaign.min_bid_cpm_micros
    high = campaign.max_bid_cpm_micros
    if change.max_bid is not None:
        high = _micros(change.max_bid)
        if high > max_bid_micros:
            raise InvalidChange("max_bid", f"above {limit}")
    assert high is not None  # a value-based campaign always has one (bidding.campaigns)
    if low > high:
        field = "min_bid" if change.min_bid is not None else "max_bid"
        raise InvalidChange(field, f"min_bid {micros_text(low)} above max_bid {micros_text(high)}")
    rule_based = min(
        max(value_cpm_micros(new_goal, campaign.historical_ctr, campaign.historical_cvr), low),
        high,
    )
    if rule_based <= 0:
        raise InvalidChange("max_bid", "the bid without models would round to zero")
    updates.update(
        goal=new_goal, min_bid_cpm_micros=low, max_bid_cpm_micros=high, bid_cpm_micros=rule_based
    )
    return replace(campaign, **updates)


_TARGETS: Final = {
    "target_cpc": GoalKind.CPC,
    "target_cpa": GoalKind.CPA,
    "conversion_value": GoalKind.ROI,
    "target_roi": GoalKind.ROI,
}


def _goal(campaign_id: str, goal: Goal, change: CampaignChange) -> Goal:
    for name, kind in _TARGETS.items():
        if getattr(change, name) is not None and goal.kind is not kind:
            raise InvalidChange(name, f"campaign {campaign_id} has a {goal.kind.value} goal")
    updates: dict[str, Any] = {}
    if change.target_cpc is not None:
        updates["target_cpc_micros"] = _micros(change.target_cpc)
    if change.target_cpa is not None:
        updates["target_cpa_micros"] = _micros(change.target_cpa)
    if change.conversion_value is not None:
        updates["conversion_value_micros"] = _micros(change.conversion_value)
    if change.target_roi is not None:
        updates["target_roi"] = float(change.target_roi)
    return replace(goal, **updates)


def _money(campaign: Campaign, enabled: bool) -> dict[str, Any]:
    """What the admin API can change of a campaign, in micros (the event's before/after)."""
    fields: dict[str, Any] = {
        "enabled": enabled,
        "daily_budget_micros": campaign.daily_budget_micros,
        "bid_cpm_micros": campaign.bid_cpm_micros,
    }
    goal = campaign.goal
    if goal is not None:
        fields.update(
            min_bid_micros=campaign.min_bid_cpm_micros,
            max_bid_micros=campaign.max_bid_cpm_micros,
        )
        if goal.kind is GoalKind.CPC:
            fields["target_cpc_micros"] = goal.target_cpc_micros
        elif goal.kind is GoalKind.CPA:
            fields["target_cpa_micros"] = goal.target_cpa_micros
        else:
            fields["conversion_value_micros"] = goal.conversion_value_micros
            fields["target_roi"] = goal.target_roi
    return fields


def _view(router: CampaignRouter, campaign: Campaign) -> CampaignView:
    goal = campaign.goal
    goal_view = None
    if goal is not None:
        targets: dict[str, str] = {}
        if goal.kind is GoalKind.CPC:
            targets["target_cpc"] = micros_text(goal.target_cpc_micros)
        elif goal.kind is GoalKind.CPA:
            targets["target_cpa"] = micros_text(goal.target_cpa_micros)
        else:
            targets["conversion_value"] = micros_text(goal.conversion_value_micros)
            targets["target_roi"] = f"{Decimal(repr(goal.target_roi)).normalize():f}"
        goal_view = GoalView(type=goal.kind.value, **targets)
    high = campaign.max_bid_cpm_micros
    return CampaignView(
        id=campaign.id,
        bidder=router.name,
        advertiser=campaign.advertiser,
        seat=campaign.seat,
        enabled=campaign.id not in router.paused,
        mode="fixed" if goal is None else "value",
        currency=campaign.currency,
        time_zone=campaign.time_zone,
        daily_budget=micros_text(campaign.daily_budget_micros),
        daily_budget_micros=campaign.daily_budget_micros,
        bid_cpm=micros_text(campaign.bid_cpm_micros),
        bid_cpm_micros=campaign.bid_cpm_micros,
        goal=goal_view,
        min_bid=micros_text(campaign.min_bid_cpm_micros) if goal is not None else None,
        max_bid=micros_text(high) if goal is not None and high is not None else None,
        flight_start=campaign.flight_start,
        flight_end=campaign.flight_end,
        creatives=[creative.id for creative in campaign.creatives],
        frequency_caps=[{"count": cap.count, "per": cap.window} for cap in campaign.frequency_caps],
    )
