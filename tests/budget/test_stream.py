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
