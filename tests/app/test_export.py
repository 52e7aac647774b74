"""``rtb export``: new events of the stream to CSV, each event once per consumer group."""

import csv
from pathlib import Path

from redis.asyncio import Redis

from app.export import export_events
from budget.stream import RedisEventStream


async def test_export_writes_each_event_once(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = Redis.from_url(redis_url)
    try:
        stream = RedisEventStream(client, f"{key_prefix}events", 10_000)
        await stream.append(
            [
                {"kind": "auction", "ts_ms": "1", "auction_id": "a1"},
                {"kind": "notice_billing", "ts_ms": "2", "charged_micros": "1910"},
            ]
        )
        first = tmp_path / "first.csv"
        assert await export_events(stream, first) == 2
        rows = list(csv.DictReader(first.read_text().splitlines()))
        assert [r["kind"] for r in rows] == ["auction", "notice_billing"]
        assert (rows[0]["auction_id"], rows[1]["charged_micros"]) == ("a1", "1910")
        assert rows[0]["charged_micros"] == ""
        await stream.append([{"kind": "click", "ts_ms": "3"}])
        second = tmp_path / "second.csv"
        assert await export_events(stream, second) == 1
        assert [r["kind"] for r in csv.DictReader(second.read_text().splitlines())] == ["click"]
    finally:
        await client.aclose()
