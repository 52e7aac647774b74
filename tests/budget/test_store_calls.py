"""How many script calls a request's holds cost: one on a single node, whatever the
campaigns (counted by a redis-server of the test's own, which nothing else uses)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from budget.accounts import Hold
from budget.keys import KeySpace
from budget.ledger_watch import open_ledger
from budget.redis_store import RedisStore
from tests.redis_process import REDIS_SERVER, RedisProcess
from tests.servers import free_port


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    if REDIS_SERVER is None:
        pytest.skip("needs the redis-server binary to count a server's own calls")
    server = RedisProcess(REDIS_SERVER, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def evalsha_calls(store: RedisStore) -> int:
    stats = await store._client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_requests_holds_on_many_campaigns_are_one_call_on_one_node(
    own_redis: RedisProcess,
) -> None:
    keys = KeySpace("calls:")
    campaigns = [f"c{i}" for i in range(20)]
    store = RedisStore.from_url(own_redis.url, timeout_s=1.0)
    try:
        await open_ledger(store, keys, campaigns)
        holds = [Hold(keys.account(c, "d"), f"a:1:{c}", 10, 1_000, 60_000) for c in campaigns]
        await store.reserve(holds[:1])  # loads the scripts (a first EVALSHA answers NOSCRIPT)
        await store.release([(holds[0].account, "unknown")])
        before = await evalsha_calls(store)
        assert await store.reserve(holds[1:]) == [True] * 19
        await store.release([(h.account, h.hold_id) for h in holds])
        assert await evalsha_calls(store) - before == 2  # one RESERVE, one RELEASE
    finally:
        await store.aclose()
