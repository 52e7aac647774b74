"""The canary's guard: counts each arm's outcomes, judges them, rolls the canary back.

The routers count each arm's priced requests and bids (``bidding.router``); the outcomes
come from the event sink (``StreamEventSink.listen``): an in-process value-based impression's
charged notice is a win and its spend, a click is a click, each in the arm of its auction id
(``Canary.arm``). A notice may reach another process than the one that bid; both arms'
counts are skewed alike, so the comparison holds.

Every ``check_interval_s`` the guards are judged (``bidding.canary_guards.judge``). A breach
rolls the canary back here, writes the reason to the store — every other process reads it
at its next check and stops too, and a restarted process never brings the canary back —
records a ``canary_rolled_back`` event and logs a warning. ``/readyz`` and
``rtb_canary_*`` show the state.
"""

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import structlog

from bidding.canary import Canary, CanaryFile, CanaryState
from bidding.canary_guards import Breach, judge
from budget.keys import KeySpace
from budget.store import CounterStore, StoreUnavailable
from exchange.config_file import parse_config_file
from exchange.events import EventSink

log = structlog.get_logger("exchange.canary")

ROLLBACK_EVENT: Final = "canary_rolled_back"
_MARKER_TTL_S: Final = 30 * 86_400
_CHARGED_KINDS: Final = frozenset({"notice_win", "notice_billing"})


class CanaryFileError(ValueError):
    """The canary file's problems, every one of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_canary_file(path: Path) -> CanaryFile:
    """The canary file at ``path``; CanaryFileError naming each problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CanaryFileError([f"{path}: {exc.strerror or exc}"]) from exc
    return parse_config_file(CanaryFile, data, str(path), CanaryFileError)


class CanaryWatch:
    """One process's guard of its canary (module docstring)."""

    def __init__(
        self,
        canary: Canary,
        store: CounterStore,
        keys: KeySpace,
        events: EventSink,
        value_based: Callable[[str, str], bool],
    ) -> None:
        """``value_based(bidder, campaign_id)``: whether the canary prices that campaign
        (an in-process campaign with a value goal); other notices and clicks are not counted."""
        self.canary = canary
        self._store = store
        self._key = keys.canary(canary.name)
        self._events = events
        self._value_based = value_based
        self.breach: Breach | None = None
        """The guard this process found breached (None: none, or another process's)."""

    def observe(self, kind: str, fields: Mapping[str, Any]) -> None:
        """An event: a first charge or a click of a value-based impression counts in its arm."""
        canary = self.canary
        if not canary.active:
            return
        if kind in _CHARGED_KINDS:
            micros = fields.get("charged_micros")
            if not isinstance(micros, int) or micros <= 0:
                return
        elif kind != "click":
            return
        auction_id, bidder, campaign = (
            fields.get("auction_id"),
            fields.get("bidder"),
            fields.get("campaign_id"),
        )
        if not (isinstance(auction_id, str) and isinstance(bidder, str)):
            return
        if not (isinstance(campaign, str) and self._value_based(bidder, campaign)):
            return
        arm = canary.arms[canary.arm(auction_id)]
        if kind == "click":
            arm.clicks += 1
        else:
            arm.charged(auction_id, fields["charged_micros"])

    async def start(self) -> None:
        """Take over a rollback another process (or this one, before a restart) recorded."""
        await self._follow_store("rolled back earlier")

    async def check(self) -> bool:
        """Judge the guards once; True when this call rolled the canary back."""
        canary = self.canary
        if not canary.active:
            return False
        if await self._follow_store("rolled back by another process"):
            return False
        breach = judge(
            canary.arms["control"],
            canary.arms["canary"],
            canary.config.guard_config(),
            canary.mixing,
        )
        if breach is None or not canary.roll_back(breach.reason):
            return False
        self.breach = breach
        await self._share()
        self._events.emit(
            ROLLBACK_EVENT,
            canary=canary.name,
            guard=breach.guard.value,
            control_value=breach.control,
            canary_value=breach.canary,
            p_value=breach.p_value,
            reason=breach.reason,
            **{
                f"{arm}_{name}": value
                for arm, counts in canary.arm_counts().items()
                for name, value in counts.items()
            },
        )
        log.warning("canary_rolled_back", canary=canary.name, reason=breach.reason)
        return True

    async def _share(self) -> bool:
        """Write this process's rollback to the store, where the others read it; True once
        written (``run`` retries until then)."""
        canary = self.canary
        if canary.shared or self.breach is None:
            return True
        try:
            await self._store.put_texts([(self._key, self.breach.reason, _MARKER_TTL_S)])
        except StoreUnavailable as exc:  # stopped here; the others judge alone until then
            log.error("canary_rollback_unshared", canary=canary.name, error=str(exc))
            return False
        canary.shared = True
        return True

    async def _follow_store(self, how: str) -> bool:
        """Stop the canary when the store says it was rolled back; True if it was."""
        try:
            (reason,) = await self._store.read_texts([self._key])
        except StoreUnavailable:
            return False
        if reason is None or not self.canary.roll_back(f"{how}: {reason}"):
            return False
        self.canary.shared = True  # it is there already
        log.warning("canary_rolled_back", canary=self.canary.name, reason=self.canary.reason)
        return True

    async def run(self) -> None:
        """Check every ``check_interval_s`` until the canary stops (``start`` first), then
        until its rollback is in the store."""
        while self.canary.state is CanaryState.ACTIVE:
            await asyncio.sleep(self.canary.config.check_interval_s)
            try:
                await self.check()
            except Exception as exc:  # a guard bug must not take the process down
                log.error("canary_check_failed", canary=self.canary.name, error=repr(exc))
        while True:  # a retry loop on the store, not a wait on an event
            if await self._share():
                return
            await asyncio.sleep(self.canary.config.check_interval_s)
