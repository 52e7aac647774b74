"""The event stream on both backends: append in order, read once per consumer group."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from budget.stream import EventStream, MemoryEventStream, RedisEventStream


@pytest.fixture(params=["memory", "redis"])
async def stream(request: pytest.FixtureRequest) -> AsyncIterator[EventStream]:
    if request.param == "memory":
        yield MemoryEventStream(max_len=1_000)
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisEventStream(client, f"{request.getfixturevalue('key_prefix')}events", 1_000)
    finally:
        await client.aclose()


async def test_events_come_back_in_order_once_per_group(stream: EventStream) -> None:
    await stream.append([{"kind": "auction", "n": str(i)} for i in range(5)])
    first = await stream.read("export", "c1", count=3)
    second = await stream.read("export", "c1", count=10)
    assert [e["n"] for _, e in first] == ["0", "1", "2"]
    assert [e["n"] for _, e in second] == ["3", "4"]
    await stream.ack("export", [i for i, _ in first + second])
    assert await stream.read("export", "c1", count=10) == []
    other = await stream.read("training", "c1", count=10)
    assert len(other) == 5


async def test_the_stream_is_capped(stream: EventStream) -> None:
    for batch in range(30):
        await stream.append([{"n": str(batch * 100 + i)} for i in range(100)])
    everything = await stream.read("g", "c", count=10_000)
    assert 1_000 <= len(everything) < 3_000  # Redis trims approximately
    assert everything[-1][1]["n"] == "2999"


async def test_unacknowledged_entries_come_back_to_their_own_consumer(stream: EventStream) -> None:
    await stream.append([{"n": str(i)} for i in range(5)])
    mine = await stream.read("export", "c1", count=3)
    theirs = await stream.read("export", "c2", count=10)
    await stream.ack("export", [mine[0][0]])
    assert [e["n"] for _, e in await stream.read_pending("export", "c1", count=10)] == ["1", "2"]
    assert await stream.read_pending("export", "c1", count=10) == []
    assert [i for i, _ in await stream.read_pending("export", "c2", count=10)] == [
        i for i, _ in theirs
    ]


async def test_pending_entries_come_back_a_page_at_a_time(stream: EventStream) -> None:
    await stream.append([{"n": str(i)} for i in range(5)])
    await stream.read("export", "c1", count=5)
    pages = [await stream.read_pending("export", "c1", count=2) for _ in range(4)]
    assert [[e["n"] for _, e in page] for page in pages] == [["0", "1"], ["2", "3"], ["4"], []]
