"""Request rates per subject over a sliding window, shared through the counter store."""

import pytest

from budget.store import CounterStore
from fraud.rates import RateLimits, RateWatch

SECRET = b"s" * 32


class Clock:
    def __init__(self, now: float = 6_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _watch(store: CounterStore | None, clock: Clock, prefix: str, **kw: int) -> RateWatch:
    limits = RateLimits(60, {"ip": 5, "device": 3})
    return RateWatch(limits, SECRET, prefix=prefix, store=store, clock=clock, **kw)


def test_one_process_catches_a_flood_at_once() -> None:
    clock = Clock()
    watch = _watch(None, clock, "t:")
    answers = [watch.seen("ip", "81.2.69.160") for _ in range(7)]
    assert answers[:5] == [None] * 5
    assert answers[5] == 6
    assert answers[6] == 7
    assert watch.seen("ip", "81.2.69.161") is None  # another subject is its own count
    assert watch.seen("unknown-kind", "x") is None


async def test_processes_add_up_through_the_store(store: CounterStore, key_prefix: str) -> None:
    """Three processes see 2 requests each from one IP: no one alone is over 5, the fleet is."""
    clock = Clock()
    watches = [_watch(store, clock, key_prefix) for _ in range(3)]
    for watch in watches:
        assert watch.seen("ip", "81.2.69.160") is None
        assert watch.seen("ip", "81.2.69.160") is None
    for watch in watches:
        await watch.flush()
    # the last to flush read the fleet's 6; the first read only its own 2 so far
    assert watches[2].seen("ip", "81.2.69.160") == 7
    assert watches[0].seen("ip", "81.2.69.160") is None
    assert watches[1].seen("ip", "81.2.69.161") is None


async def test_the_window_slides(store: CounterStore, key_prefix: str) -> None:
    clock = Clock(6_000.0)  # the start of a 60 s bucket
    watch = _watch(store, clock, key_prefix)
    for _ in range(5):
        watch.seen("device", "ifa-1")
    await watch.flush()
    clock.now += 60  # the next bucket's start: the previous one still counts whole
    assert watch.seen("device", "ifa-1") == 6
    clock.now += 45  # three quarters into it: a quarter of the previous bucket is left
    assert watch.seen("device", "ifa-1") is None  # 5 × 0.25 + 2 = 3, not over 3
    clock.now += 60  # two buckets on: the first has left the window
    await watch.flush()
    assert watch.seen("device", "ifa-1") is None


async def test_no_raw_subject_reaches_the_store(store: CounterStore, key_prefix: str) -> None:
    clock = Clock()
    watch = _watch(store, clock, key_prefix)
    watch.seen("ip", "81.2.69.160")
    await watch.flush()
    key = f"{key_prefix}ivt:ip:{int(clock.now // 60)}:{watch.subject_key('81.2.69.160')}"
    assert await store.read_many([key]) == [1]
    assert "81.2.69.160" not in key


def test_subjects_between_flushes_are_bounded() -> None:
    watch = _watch(None, Clock(), "t:", max_subjects=2)
    for n in range(5):
        watch.seen("ip", f"81.2.69.{n}")
    assert watch.dropped == 3


class BrokenStore:
    async def add_many(self, items: object) -> None:
        raise RuntimeError("store down")

    async def read_many(self, keys: object) -> list[int]:
        raise AssertionError("not reached")


async def test_a_failing_store_costs_the_flush_only() -> None:
    clock = Clock()
    watch = RateWatch(RateLimits(60, {"ip": 2}), SECRET, store=BrokenStore(), clock=clock)
    for _ in range(2):
        watch.seen("ip", "81.2.69.160")
    await watch.flush()
    assert watch.seen("ip", "81.2.69.160") is None  # counts of the failed flush are gone
    assert watch.seen("ip", "81.2.69.160") is None
    assert watch.seen("ip", "81.2.69.160") == 3


@pytest.mark.parametrize("flushes", [0, 1])
async def test_a_bucket_ending_between_flushes_still_counts(
    store: CounterStore, key_prefix: str, flushes: int
) -> None:
    clock = Clock(6_050.0)
    watch = _watch(store, clock, key_prefix)
    for _ in range(5):
        watch.seen("ip", "81.2.69.160")
    for _ in range(flushes):
        await watch.flush()
    clock.now = 6_060.0  # next bucket, before any (further) flush
    watch.seen("ip", "81.2.69.160")
    await watch.flush()
    key = f"{key_prefix}ivt:ip:100:{watch.subject_key('81.2.69.160')}"
    assert await store.read_many([key]) == [5]
    assert watch.seen("ip", "81.2.69.160") == 7  # 5 (previous, whole) + 1 + 1
