"""The canary's watch on its own: a breach found while the store refuses writes is shared
once the store answers again, and a process that starts after a rollback never serves the
canary."""

import asyncio
from collections.abc import Sequence
from typing import Any

from bidding.canary import CANARY, CONTROL, Canary, CanaryFile, CanaryState
from budget.keys import KeySpace
from budget.memory import MemoryStore
from budget.store import StoreUnavailable
from exchange.canary_watch import ROLLBACK_EVENT, CanaryWatch


class _Events:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.kinds.append(kind)


class _RefusesWrites(MemoryStore):
    """A store whose first ``refusals`` writes of texts fail, as during an outage."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    async def put_texts(self, items: Sequence[tuple[str, str, int]]) -> None:
        if self.refusals:
            self.refusals -= 1
            raise StoreUnavailable("connection refused")
        await super().put_texts(items)


def _canary() -> Canary:
    config = CanaryFile.model_validate(
        {"name": "watched", "share": 0.5, "check_interval_s": 0.1, "guards": {"min_requests": 20}}
    )
    canary = Canary(config, None)
    for _ in range(30):  # a canary that never bids beside a control that always does
        canary.arms[CONTROL].priced(1)
        canary.arms[CANARY].priced(0)
    return canary


async def test_a_rollback_the_store_refused_is_written_once_it_answers() -> None:
    store, keys, events = _RefusesWrites(refusals=2), KeySpace("t:"), _Events()
    canary = _canary()
    watch = CanaryWatch(canary, store, keys, events, lambda bidder, campaign: True)
    task = asyncio.create_task(watch.run())
    try:
        for _ in range(100):
            if canary.shared:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert canary.state is CanaryState.ROLLED_BACK
    assert canary.shared
    assert store.refusals == 0  # both refusals were met, then the write went through
    (reason,) = await store.read_texts([keys.canary("watched")])
    assert reason is not None
    assert reason.startswith("bid_rate 0 against control's 1")
    assert events.kinds == [ROLLBACK_EVENT]  # recorded once, however many retries


async def test_a_process_started_after_a_rollback_never_takes_canary_traffic() -> None:
    store, keys = MemoryStore(), KeySpace("t:")
    await store.put_texts([(keys.canary("watched"), "spend_rate +80 %", 60)])
    canary = Canary(_canary().config, None)
    watch = CanaryWatch(canary, store, keys, _Events(), lambda bidder, campaign: True)
    await watch.start()  # what start_services awaits before serving
    assert canary.serving_arm("any-auction") is None
    assert canary.reason == "rolled back earlier: spend_rate +80 %"
