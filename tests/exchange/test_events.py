"""The batched event writer: nothing on the request path, nothing accepted lost."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
from prometheus_client import generate_latest
from redis.asyncio import Redis

from app.main import create_app
from budget.store import StoreUnavailable
from budget.stream import Event, MemoryEventStream, RedisEventStream
from exchange.events import StreamEventSink
from exchange.metrics import Metrics
from exchange.settings import Settings
from tests.servers import serve


class FlakyStream(MemoryEventStream):
    """A stream that is down for its first ``failures`` writes."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def append(self, events: Sequence[Event]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("down")
        await super().append(events)


async def test_events_reach_redis_in_batches_and_shutdown_flushes(
    redis_url: str, key_prefix: str
) -> None:
    client = Redis.from_url(redis_url)
    try:
        stream = RedisEventStream(client, f"{key_prefix}events", 10_000)
        sink = StreamEventSink(stream, Metrics(), batch_size=100, interval_s=10)
        for i in range(50):
            sink.emit("win", auction_id=f"a{i}", price_micros=1_910_000, seat=None)
        await asyncio.sleep(0.05)
        assert sink.queued == 50  # below a batch: waits for the interval
        for i in range(50, 250):
            sink.emit("win", auction_id=f"a{i}", price_micros=1_910_000, seat=None)
        for _poll in range(500):
            if not sink.queued:
                break
            await asyncio.sleep(0.01)
        assert sink.queued == 0  # a full batch wakes the writer at once
        sink.emit("win", auction_id="last", price_micros=1, seat=None)
        await sink.aclose()
        assert sink.queued == 0
        read = await stream.read("g", "c", count=1_000)
        assert len(read) == 251
        first = read[0][1]
        assert (first["kind"], first["auction_id"], first["price_micros"]) == (
            "win",
            "a0",
            "1910000",
        )
        assert "seat" not in first
    finally:
        await client.aclose()


async def test_a_stream_outage_keeps_events_queued_until_it_is_back() -> None:
    stream = FlakyStream(failures=2)
    metrics = Metrics()
    sink = StreamEventSink(stream, metrics, batch_size=10, interval_s=0.01)
    for i in range(5):
        sink.emit("click", n=i)
    await sink.aclose()
    assert [e["n"] for _, e in await stream.read("g", "c", 10)] == ["0", "1", "2", "3", "4"]
    assert metrics.events_written._value.get() == 5


async def test_a_full_queue_drops_and_counts() -> None:
    metrics = Metrics()
    sink = StreamEventSink(FlakyStream(failures=1_000), metrics, max_queued=3, interval_s=60)
    for i in range(5):
        sink.emit("auction", n=i)
    assert sink.queued == 3
    assert metrics.events_dropped._value.get() == 2
    await sink.aclose(timeout_s=0.2)


async def test_events_lost_to_the_memory_ring_show_in_the_metrics() -> None:
    metrics = Metrics()
    ring = MemoryEventStream(max_len=10)
    metrics.count_ring_drops(lambda: ring.dropped)
    await ring.read("export", "c", count=10)
    await ring.append([{"n": str(i)} for i in range(25)])
    text = generate_latest(metrics.registry).decode()
    assert "rtb_events_ring_dropped_total 15.0" in text


def test_the_exchange_on_the_memory_store_publishes_its_ring_drops(tmp_path: Path) -> None:
    settings = Settings(events_memory_max_len=100, state_dir=tmp_path)
    with serve(create_app(settings)) as url:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    assert "rtb_events_ring_dropped_total 0.0" in text


async def test_numbers_go_into_the_stream_as_numbers_and_read_back_as_redis_gives_them(
    redis_url: str, key_prefix: str
) -> None:
    """Writers pass ints and floats unconverted; both streams give back the same strings."""
    memory = MemoryEventStream(max_len=10)
    redis_stream = RedisEventStream.from_url(redis_url, f"{key_prefix}typed", 100)
    try:
        for stream in (memory, redis_stream):
            sink = StreamEventSink(stream, Metrics(), interval_s=0.01)
            sink.emit("notice", charged_micros=2_510, pctr=0.012345678901, billable=True, cid=None)
            await sink.aclose()
        ((_, from_memory),) = await memory.read("g", "c", 10)
        ((_, from_redis),) = await redis_stream.read("g", "c", 10)
    finally:
        await redis_stream.aclose()
    for event in (from_memory, from_redis):
        assert {k: v for k, v in event.items() if k != "ts_ms"} == {
            "kind": "notice",
            "charged_micros": "2510",
            "pctr": "0.012345678901",
            "billable": "True",
        }
        assert event["ts_ms"].isdigit()
