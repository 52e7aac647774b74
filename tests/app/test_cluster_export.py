"""The sharded event stream on a real 3-node Redis Cluster, and ``rtb export`` reading it.

The shards' hash tags put some on every node; the writer spreads its batches over all of
them; ``rtb export`` reads every shard through its consumer group and writes one file
ordered by event time, each event once, and the next export only what came since.
"""

import asyncio
import csv
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.cli import main as rtb
from budget.keys import KeySpace
from budget.redis_store import open_client
from budget.stream import RedisEventStream
from exchange.export import export_events
from tests.redis_cluster import ClusterProcesses, point_rtb_at, running_cluster

SHARDS = 16
SECRET = "cluster-export-secret-0123456789-abcdef"


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcesses]:
    with running_cluster(tmp_path_factory) as cluster:
        yield cluster


@pytest.fixture
async def stream(
    redis_cluster: ClusterProcesses, key_prefix: str
) -> AsyncIterator[RedisEventStream]:
    events = RedisEventStream.from_url(
        redis_cluster.url, KeySpace(key_prefix).events(SHARDS), 100_000, cluster=True
    )
    try:
        yield events
    finally:
        await events.aclose()


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


async def test_every_node_holds_shards_and_every_shard_gets_batches(
    redis_cluster: ClusterProcesses, stream: RedisEventStream, key_prefix: str
) -> None:
    for batch in range(3 * SHARDS):
        await stream.append(
            [{"kind": "auction", "ts_ms": str(batch), "n": f"{batch}.{i}"} for i in range(5)]
        )
    per_node = redis_cluster.keys_per_node(f"{key_prefix}events*")
    assert all(per_node), f"a node without any shard: {per_node}"
    assert sorted(k for node in per_node for k in node) == sorted(stream.keys)
    client = open_client(redis_cluster.url, cluster=True, timeout_s=2.0)
    try:
        lengths = [await client.xlen(key) for key in stream.keys]
    finally:
        await client.aclose()
    assert lengths == [15] * SHARDS  # round robin: three batches of five on each


async def test_export_reads_every_shard_into_one_file_in_event_time(
    stream: RedisEventStream, tmp_path: Path
) -> None:
    # Batches in an order that is not their event time: a late process, a shard read last.
    for batch in (5, 1, 7, 0, 3, 6, 2, 4) * 4:
        await stream.append([{"kind": "auction", "ts_ms": str(1000 + batch), "b": str(batch)}])
    first = tmp_path / "first.csv"
    assert await export_events(stream, first, max_events=None) == 32
    times = [int(r["ts_ms"]) for r in rows(first)]
    assert times == sorted(times)
    assert [r["b"] for r in rows(first)] == [str(b) for b in range(8) for _ in range(4)]
    await stream.append([{"kind": "click", "ts_ms": "2000"}, {"kind": "click", "ts_ms": "2001"}])
    second = tmp_path / "second.csv"
    assert await export_events(stream, second) == 2  # only the new ones, whichever shard
    assert [r["kind"] for r in rows(second)] == ["click", "click"]
    assert await export_events(stream, tmp_path / "third.csv") == 0


def test_rtb_export_on_the_cluster_reads_the_shards_the_settings_name(
    redis_cluster: ClusterProcesses,
    key_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def write() -> None:
        writer = RedisEventStream.from_url(
            redis_cluster.url, KeySpace(key_prefix).events(SHARDS), 100_000, cluster=True
        )
        try:
            for n in range(40):
                await writer.append([{"kind": "notice_billing", "ts_ms": str(n), "n": str(n)}])
        finally:
            await writer.aclose()

    asyncio.run(write())
    point_rtb_at(redis_cluster, monkeypatch, key_prefix=key_prefix, notice_secret=SECRET)
    out = tmp_path / "events.csv"
    assert rtb(["export", "--out", str(out), "--max", "25"]) == 0  # 16 shards by default
    assert len(rows(out)) == 25
    rest = tmp_path / "rest.csv"
    assert rtb(["export", "--out", str(rest)]) == 0
    together = sorted(int(r["n"]) for r in rows(out) + rows(rest))
    assert together == list(range(40))  # every event once, across both files
