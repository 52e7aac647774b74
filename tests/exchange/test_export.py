"""``rtb export``: new events of the stream to CSV, each event once per consumer group."""

import csv
from pathlib import Path

import pytest
from redis.asyncio import Redis

from budget.stream import RedisEventStream
from exchange.export import export_events


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


async def test_an_export_that_dies_before_its_file_is_written_loses_nothing(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """Events are acknowledged only once the file is on disk: ``rtb ledger restore`` may
    need every charge the log holds."""
    client = Redis.from_url(redis_url)
    try:
        stream = RedisEventStream(client, f"{key_prefix}events", 10_000)
        await stream.append([{"kind": "notice_billing", "ts_ms": str(n)} for n in range(5)])
        unwritable = tmp_path / "no-such-directory" / "events.csv"
        with pytest.raises(FileNotFoundError):
            await export_events(stream, unwritable)
        assert not unwritable.parent.exists()
        died = await stream.read("export", "rtb-export", 3)  # read by an exporter that died
        assert died == []  # all five were delivered to the failed export and are pending
        await stream.append([{"kind": "click", "ts_ms": "9"}])
        again = tmp_path / "again.csv"
        restarted = RedisEventStream(client, f"{key_prefix}events", 10_000)  # a new process
        assert await export_events(restarted, again) == 6  # the five pending, then the new
        kinds = [r["kind"] for r in csv.DictReader(again.read_text().splitlines())]
        assert kinds == ["notice_billing"] * 5 + ["click"]
        assert (
            await export_events(RedisEventStream(client, f"{key_prefix}events", 10_000), again) == 0
        )
    finally:
        await client.aclose()
