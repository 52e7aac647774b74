"""Budget pacing: spend each campaign's daily budget along its plan, in every process as one.

The router asks ``advice(campaign_id)`` for every candidate campaign of every request: the
advice its strategy derives from the campaign's control level (``bidding.strategy``: a bid
multiplier and a participation probability), read from a local cache (no I/O on the bidding
path); it satisfies ``bidding.router.Pacer`` structurally.
``tick`` refreshes the cache for all campaigns at once, in three store calls:

1. it adds the requests each campaign was offered since the last tick to shared counters per
   local quarter-hour (the traffic profile tomorrow's plans follow: ``pacing_plan``);
2. it reads, in one round trip, each campaign's spend and open holds today (the ledger's
   ``spend`` and ``held`` counters) and the shared controller state (and, on a campaign's
   first tick of a day, the traffic history for its plan);
3. it steps the controller (``pacing_control``) and writes the new states back.

The advice is a pure function of that shared state, so every process bids the same way: a
process that ticks right after another adopts the state it finds (``min_step_s``), and if
two step at once the last write wins — each computed it from the same shared spend, so
either is right. The state lives under the campaign's hash tag (one cluster shard), as
integers: the control level in millionths, the sums in micros, times in milliseconds.

Pacing only decides how eagerly to bid; it never touches money. Budget safety stays with
the holds (``SpendLedger.reserve``): a pacer that is wrong, stale or down can make a
campaign spend unevenly, never over its budget. If the store fails, ``tick`` keeps the last
advice and tries again next time.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

import structlog

from budget.accounts import BudgetedCampaign
from budget.days import campaign_day
from budget.keys import KeySpace
from budget.pacing_control import ControllerConfig, ControllerState, step
from budget.pacing_plan import SLOTS, DayPlan, TrafficProfile, previous_days, quarter_hour
from budget.store import CounterStore, StoreUnavailable

__all__ = [
    "PacedCampaign",
    "PacingConfig",
    "PacingKeys",
    "StorePacer",
]

log = structlog.get_logger("budget.pacing")

_STATE_TTL_S: Final = 3 * 24 * 3600
_DAY_TTL_S: Final = 2 * 24 * 3600
_KEYS_PER_CAMPAIGN: Final = 7
"""Spend and held today, the day's two state keys and the three control keys."""
_U_SCALE: Final = 1_000_000
"""The control level is stored in millionths (the store keeps integers)."""


A = TypeVar("A")
"""The advice type the pacer builds from a control level: the consumer's own
(``bidding.strategy.PacingAdvice`` from ``advice_at``), so that the two packages share no
type and how a level becomes bids stays a bidding decision."""


PacedCampaign = BudgetedCampaign
"""What pacing needs of a campaign."""


@dataclass(frozen=True, slots=True)
class PacingConfig:
    """Pacing settings; the controller's tuning is in ``controller``."""

    controller: ControllerConfig = field(default_factory=ControllerConfig)
    shaped: bool = True
    """Plan along the learnt traffic profile (False: the even plan, always)."""
    history_days: int = 7
    """Days of traffic counts a plan is learnt from."""
    min_profile_requests: int = 20 * SLOTS
    """Fewer counted requests than this in the history: the even plan."""


@dataclass(frozen=True, slots=True)
class PacingKeys:
    """The store keys of pacing, all under the campaign's hash tag ``{c:<id>}``."""

    prefix: str = "rtb:"

    def control(self, campaign_id: str) -> tuple[str, str, str]:
        """Control level, weighted spend sum, weighted model sum: they carry over days."""
        base = f"{self.prefix}pace:{{c:{campaign_id}}}"
        return f"{base}:u", f"{base}:spend-sum", f"{base}:model-sum"

    def day(self, campaign_id: str, day: str) -> tuple[str, str]:
        """When the state was last stepped that day (ms) and the spend it saw then."""
        base = f"{self.prefix}pace:{{c:{campaign_id}}}:{day}"
        return f"{base}:at-ms", f"{base}:spent"

    def traffic(self, campaign_id: str, day: str, quarter: int) -> str:
        """Requests the campaign was offered in one local quarter-hour of one day."""
        return f"{self.prefix}pace-traffic:{{c:{campaign_id}}}:{day}:{quarter}"


@dataclass(slots=True)
class _Tracked:
    """One paced campaign: its current day, that day's store keys, plan and state."""

    campaign: PacedCampaign
    day: str = ""
    keys: tuple[str, ...] = ()
    """Spend and held today, the day's state (at-ms, spent), the control (u, spend sum, model
    sum)."""
    plan: DayPlan | None = None
    state: ControllerState | None = None


class StorePacer(Generic[A]):
    """Paces the given campaigns through a shared CounterStore; one instance per process."""

    def __init__(
        self,
        campaigns: Sequence[PacedCampaign],
        store: CounterStore,
        keys: KeySpace,
        *,
        advice: Callable[[float], A],
        config: PacingConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._campaigns = tuple(campaigns)
        self._tracked = [_Tracked(c) for c in self._campaigns]
        self._by_id = {t.campaign.id: t for t in self._tracked}
        self._store = store
        self._spend_keys = keys
        self._keys = PacingKeys(keys.prefix)
        self._make = advice
        self._config = config or PacingConfig()
        self._clock = clock
        self._full_speed = advice(0.0)
        self._cache: dict[str, A] = {}
        self._counts: dict[str, int] = {}
        self._counted_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def advice(self, campaign_id: str) -> A:
        """The campaign's advice as of the last tick (full speed before the first); counts
        the request for the traffic profile."""
        counts = self._counts
        counts[campaign_id] = counts.get(campaign_id, 0) + 1
        return self._cache.get(campaign_id, self._full_speed)

    def peek(self, campaign_id: str) -> A:
        """The advice without counting a request (debug output, reports)."""
        return self._cache.get(campaign_id, self._full_speed)

    def replace_campaign(self, campaign: PacedCampaign) -> None:
        """Pace ``campaign`` (a tracked one, changed: its budget) from the next tick on."""
        tracked = self._by_id.get(campaign.id)
        if tracked is None:
            raise KeyError(campaign.id)
        if campaign.time_zone != tracked.campaign.time_zone:
            raise ValueError("a paced campaign keeps its time zone (its day's keys do)")
        tracked.campaign = campaign
        self._campaigns = tuple(t.campaign for t in self._tracked)

    def plan(self, campaign_id: str) -> DayPlan | None:
        """The campaign's plan for the day of the last tick (reports, tests)."""
        tracked = self._by_id.get(campaign_id)
        return tracked.plan if tracked is not None else None

    def state(self, campaign_id: str) -> ControllerState | None:
        """The campaign's controller state as of the last tick (reports, tests)."""
        tracked = self._by_id.get(campaign_id)
        return tracked.state if tracked is not None else None

    async def tick(self, now_s: float | None = None) -> bool:
        """Count traffic, read spend and shared state, step, write back, refresh the cache.

        False when the store failed (the previous advice stays in force)."""
        now = self._clock() if now_s is None else now_s
        try:
            await self.flush_counts(now)
            await self._step_all(now)
        except StoreUnavailable as exc:
            log.warning("pacing_tick_failed", error=str(exc))
            return False
        return True

    async def flush_counts(self, now: float) -> None:
        """Add the requests counted since the last flush to the shared quarter-hour
        counters (at the middle of the interval); kept for the next try on failure."""
        counts, self._counts = self._counts, {}
        since = self._counted_since if self._counted_since is not None else now
        at = (since + now) / 2
        ttl_s = (self._config.history_days + 2) * 24 * 3600
        items = []
        for campaign in self._campaigns:
            n = counts.get(campaign.id, 0)
            if n:
                day = campaign_day(at, campaign.time_zone)
                key = self._keys.traffic(campaign.id, day, quarter_hour(at, campaign.time_zone))
                items.append((key, n, ttl_s))
        try:
            await self._store.add_many(items)
        except StoreUnavailable:
            for cid, n in counts.items():
                self._counts[cid] = self._counts.get(cid, 0) + n
            raise
        self._counted_since = now

    def _history_keys(self, campaign: PacedCampaign, day: str) -> list[str]:
        days = previous_days(day, self._config.history_days)
        return [self._keys.traffic(campaign.id, d, q) for d in days for q in range(SLOTS)]

    def _roll(self, tracked: "_Tracked", day: str) -> None:
        """A campaign's first tick of ``day``: its keys for the day; its plan to build."""
        cid = tracked.campaign.id
        tracked.day = day
        account = self._spend_keys.account(cid, day)
        tracked.keys = (
            account.spend,
            account.held,
            *self._keys.day(cid, day),
            *self._keys.control(cid),
        )
        tracked.plan = None

    async def _step_all(self, now: float) -> None:
        keys: list[str] = []
        fresh: list[_Tracked] = []
        days: dict[str, str] = {}
        for tracked in self._tracked:
            zone = tracked.campaign.time_zone
            day = days.get(zone) or days.setdefault(zone, campaign_day(now, zone))
            if day != tracked.day:
                self._roll(tracked, day)
            keys.extend(tracked.keys)
            if tracked.plan is None:
                fresh.append(tracked)
        shaped = self._config.shaped
        if shaped:
            for tracked in fresh:
                keys.extend(self._history_keys(tracked.campaign, tracked.day))
        values = await self._store.read_many(keys)
        history = iter(values[_KEYS_PER_CAMPAIGN * len(self._tracked) :])
        for tracked in fresh:
            tracked.plan = self._plan(tracked, history if shaped else None)
        writes: list[tuple[str, int, int]] = []
        controller = self._config.controller
        for i, tracked in enumerate(self._tracked):
            spent, held, at_ms, seen, u, spend_sum, model_sum = values[
                _KEYS_PER_CAMPAIGN * i : _KEYS_PER_CAMPAIGN * (i + 1)
            ]
            state = ControllerState(at_ms / 1000, seen, u / _U_SCALE, spend_sum, model_sum)
            campaign = tracked.campaign
            assert tracked.plan is not None  # built above
            stepped = step(
                state,
                now_s=now,
                spent_micros=spent,
                budget_micros=campaign.daily_budget_micros,
                plan=tracked.plan,
                config=controller,
                held_micros=held,
            )
            if stepped is not state:
                at_ms, u_millionths = round(stepped.updated_s * 1000), round(stepped.u * _U_SCALE)
                spend_sum, model_sum = round(stepped.spend_sum), round(stepped.model_sum)
                _, _, at_key, spent_key, u_key, spend_key, model_key = tracked.keys
                writes += (
                    (at_key, at_ms, _DAY_TTL_S),
                    (spent_key, stepped.spent_micros, _DAY_TTL_S),
                    (u_key, u_millionths, _STATE_TTL_S),
                    (spend_key, spend_sum, _STATE_TTL_S),
                    (model_key, model_sum, _STATE_TTL_S),
                )
                # What every other process will read back: the same numbers, the same advice.
                stepped = ControllerState(
                    at_ms / 1000,
                    stepped.spent_micros,
                    u_millionths / _U_SCALE,
                    spend_sum,
                    model_sum,
                )
            tracked.state = stepped
            self._cache[campaign.id] = self._make(stepped.u)
        await self._store.put_many(writes)

    def _plan(self, tracked: "_Tracked", history: Iterator[int] | None) -> DayPlan:
        """The day's plan from the traffic history (even without it)."""
        profile = TrafficProfile.even()
        if history is not None:
            counts = [0] * SLOTS
            for _ in range(self._config.history_days):
                for q in range(SLOTS):
                    counts[q] += next(history)
            profile = TrafficProfile.from_counts(counts, self._config.min_profile_requests)
        return DayPlan(tracked.day, tracked.campaign.time_zone, profile)

    async def run(self, interval_s: float) -> None:
        """Tick every ``interval_s`` until cancelled or closed (the process's background
        task). The flag, not only the cancellation, ends it: a cancellation that lands inside
        a store call's own timeout can be absorbed by it (Python 3.11), and the loop would
        then tick on for ever."""
        while not self._closing:
            try:
                await self.tick()
            except Exception as exc:  # a bug must not stop pacing for the process's life
                log.error("pacing_tick_crashed", error=repr(exc))
            await asyncio.sleep(interval_s)

    def start(self, interval_s: float) -> None:
        """Run ``run(interval_s)`` as a background task (stopped by ``aclose``)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(interval_s))

    async def aclose(self) -> None:
        """Stop the background task and hand the last traffic counts to the store."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._closing = False
        with contextlib.suppress(StoreUnavailable):
            await self.flush_counts(self._clock())
