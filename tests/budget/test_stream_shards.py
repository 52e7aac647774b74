"""The event stream's shards: key names whose hash tags spread over the cluster's slots,
and a sharded stream on one node read back as one (real Redis)."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from budget.keys import KeySpace
from budget.stream import RedisEventStream


def test_one_shard_is_the_stream_key_of_before() -> None:
    assert KeySpace("rtb:").events() == ("rtb:events",)
    assert KeySpace("rtb:").events(1) == ("rtb:events",)


@pytest.mark.parametrize("shards", [2, 3, 16, 100])
def test_shard_k_hashes_into_the_k_th_slot_range(shards: int) -> None:
    keys = KeySpace("rtb:").events(shards)
    assert len(set(keys)) == shards
    width = REDIS_CLUSTER_HASH_SLOTS / shards
    for k, key in enumerate(keys):
        assert key.startswith(f"rtb:events:{{s{k}.")
        assert int(key_slot(key.encode()) // width) == k
    assert KeySpace("other:").events(shards)[0].endswith(keys[0].removeprefix("rtb:"))


def test_a_stream_needs_a_shard() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        KeySpace().events(0)


@pytest.fixture
async def sharded(redis_url: str, key_prefix: str) -> AsyncIterator[RedisEventStream]:
    client = Redis.from_url(redis_url)
    try:
        yield RedisEventStream(client, KeySpace(key_prefix).events(4), 4_000)
    finally:
        await client.aclose()


async def test_batches_go_round_robin_and_read_back_once(
    sharded: RedisEventStream, redis_client: Redis
) -> None:
    for batch in range(8):
        await sharded.append([{"ts_ms": str(batch), "n": f"{batch}.{i}"} for i in range(3)])
    assert [await redis_client.xlen(key) for key in sharded.keys] == [6, 6, 6, 6]
    seen: list[str] = []
    while entries := await sharded.read("g", "c", count=5):
        assert all(entry_id.split("/")[0] in "0123" for entry_id, _ in entries)
        seen += [event["n"] for _, event in entries]
        await sharded.ack("g", [entry_id for entry_id, _ in entries])
    assert sorted(seen) == sorted(f"{b}.{i}" for b in range(8) for i in range(3))
    assert await sharded.read("g", "c", count=5) == []
    for key in sharded.keys:  # acknowledged on the shard each came from
        assert (await redis_client.xpending(key, "g"))["pending"] == 0


async def test_the_cap_is_the_whole_streams(sharded: RedisEventStream, redis_client: Redis) -> None:
    for batch in range(40):
        await sharded.append([{"n": str(batch * 200 + i)} for i in range(200)])
    lengths = [await redis_client.xlen(key) for key in sharded.keys]
    assert 4_000 <= sum(lengths) < 8_000  # 1,000 a shard, trimmed approximately
