"""The in-memory event stream is a ring: it keeps the last ``max_len`` events, and consumer
groups lose (and count) exactly what fell off it before they read or acknowledged it."""

import pytest

from budget.stream import MemoryEventStream


def numbered(first: int, last: int) -> list[dict[str, str]]:
    return [{"n": str(i)} for i in range(first, last + 1)]


def ns(entries: list[tuple[str, object]]) -> list[int]:
    return [int(entry_id.split("-")[0]) for entry_id, _ in entries]


async def test_the_ring_keeps_the_last_max_len_events_in_order() -> None:
    ring = MemoryEventStream(max_len=10)
    for first in range(1, 100, 7):  # batches that do not line up with the ring
        await ring.append(numbered(first, first + 6))
    assert len(ring) == 10
    entries = await ring.read("g", "c", count=100)
    assert [e["n"] for _, e in entries] == [str(i) for i in range(96, 106)]
    assert ns(entries) == list(range(96, 106))  # ids keep counting across the wrap


async def test_a_group_that_keeps_up_loses_nothing_across_the_wrap() -> None:
    ring = MemoryEventStream(max_len=10)
    seen: list[str] = []
    for first in range(1, 200, 6):
        await ring.append(numbered(first, first + 5))
        entries = await ring.read("export", "c", count=100)
        await ring.ack("export", [i for i, _ in entries])
        seen += [e["n"] for _, e in entries]
    assert seen == [str(i) for i in range(1, 205)]
    assert ring.dropped_by("export") == 0
    assert ring.dropped == 0
    assert await ring.read_pending("export", "c", count=100) == []


async def test_entries_that_fall_off_unread_are_counted_as_dropped() -> None:
    ring = MemoryEventStream(max_len=10)
    assert await ring.read("export", "c", count=100) == []  # the group exists from here
    await ring.append(numbered(1, 25))
    assert ring.dropped_by("export") == 15
    assert ns(await ring.read("export", "c", count=100)) == list(range(16, 26))
    assert ring.dropped == 15


async def test_pending_entries_that_fall_off_are_dropped_not_returned() -> None:
    ring = MemoryEventStream(max_len=10)
    await ring.append(numbered(1, 10))
    await ring.read("export", "c", count=5)  # 1..5 pending, never acknowledged
    await ring.append(numbered(11, 13))  # 1..3 fall off while pending
    assert ring.dropped_by("export") == 3
    assert ns(await ring.read_pending("export", "c", count=100)) == [4, 5]
    await ring.append(numbered(14, 30))  # 4..5 pending, 6..20 never read
    assert ring.dropped_by("export") == 3 + 2 + 15
    await ring.ack("export", ["4-0", "5-0", "nonsense"])  # gone already: nothing happens
    assert ns(await ring.read("export", "c", count=100)) == list(range(21, 31))


async def test_a_group_created_after_the_trim_counts_nothing() -> None:
    ring = MemoryEventStream(max_len=10)
    await ring.append(numbered(1, 25))
    assert ns(await ring.read("late", "c", count=3)) == [16, 17, 18]
    assert ring.dropped == 0


async def test_groups_lose_events_independently() -> None:
    ring = MemoryEventStream(max_len=10)
    await ring.append(numbered(1, 10))
    await ring.ack("fast", [i for i, _ in await ring.read("fast", "c", count=10)])
    await ring.read("slow", "c", count=2)  # 1..2 pending, 3..10 unread
    await ring.append(numbered(11, 20))
    assert (ring.dropped_by("fast"), ring.dropped_by("slow")) == (0, 10)
    assert ns(await ring.read("fast", "c", count=100)) == list(range(11, 21))
    assert ns(await ring.read("slow", "c", count=100)) == list(range(11, 21))
    assert ring.dropped == 10


async def test_pending_marks_never_outgrow_the_ring() -> None:
    ring = MemoryEventStream(max_len=10)
    for first in range(1, 1_000, 10):
        await ring.append(numbered(first, first + 9))
        await ring.read("careless", "c", count=10)  # read, never acknowledged
    assert len(await ring.read_pending("careless", "c", count=10_000)) == 10


def test_an_empty_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="max_len"):
        MemoryEventStream(max_len=0)
