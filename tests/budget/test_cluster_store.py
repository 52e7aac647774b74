"""The counter store on a real 3-node Redis Cluster.

First the whole store contract again: every test of the store, holds, ledger watch,
pacing, creative counts and notice charging that runs on the ``store`` fixture runs here
too, on a cluster store. Then what only a cluster has: a request's holds split per slot and
landing on every node, a refused request leaving nothing held on any slot, the budget
invariant under several OS processes holding across many campaigns on different slots, and
the ledger admin (init, status, restore, the scan for existing spend) against the cluster.
"""

import asyncio
import inspect
import multiprocessing
import random
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from budget.accounts import Charge, Hold
from budget.keys import KeySpace
from budget.ledger_admin import LedgerAdminError, init_ledger, ledger_status, restore_ledger
from budget.ledger_watch import open_ledger
from budget.redis_store import RedisClient, RedisStore
from budget.store import LedgerLost
from tests.bidding import test_creative_stats
from tests.budget import (
    test_holds,
    test_ledger_watch,
    test_pacing,
    test_pacing_store,
    test_profile_store,
    test_stores,
)
from tests.exchange import test_notice_charging
from tests.redis_cluster import ClusterProcesses, running_cluster

# --- the store contract, again, on the cluster ------------------------------------------

_CONTRACT = (
    test_stores,
    test_profile_store,
    test_holds,
    test_ledger_watch,
    test_pacing,
    test_pacing_store,
    test_creative_stats,
    test_notice_charging,
)
for _module in _CONTRACT:
    for _name, _test in vars(_module).items():
        if _name.startswith("test_") and "store" in inspect.signature(_test).parameters:
            globals()[_name] = _test
account = test_holds.account


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcesses]:
    with running_cluster(tmp_path_factory) as cluster:
        yield cluster


@pytest.fixture
async def store(redis_cluster: ClusterProcesses) -> AsyncIterator[RedisStore]:
    cluster_store = RedisStore.from_url(redis_cluster.url, timeout_s=1.0, cluster=True)
    try:
        yield cluster_store
    finally:
        await cluster_store.aclose()


@pytest.fixture
def keys(key_prefix: str) -> KeySpace:
    return KeySpace(key_prefix)


# --- what only a cluster has ---------------------------------------------------------------

DAY = "2026-12-02"
CAMPAIGNS = [f"c{i}" for i in range(24)]
BUDGET = 100_000  # about 60 impressions a campaign at 1.0-2.4 CPM
HOLD = 2_400
PROCESSES = 3


def evalsha_calls(cluster: ClusterProcesses) -> list[int]:
    """EVALSHA calls each node has run so far (its own count)."""
    stats = [cluster.ask_node(i, "INFO", "commandstats") for i in range(len(cluster.ports))]
    return [int(s.get("cmdstat_evalsha", {}).get("calls", 0)) for s in stats]


async def nodes_of(cluster: ClusterProcesses, keys: list[str]) -> list[int]:
    """The index of the node holding each key (from the cluster's own slot table)."""
    client = RedisCluster.from_url(cluster.url, socket_timeout=2.0)
    try:
        await client.initialize()
        return [cluster.ports.index(client.get_node_from_key(k).port) for k in keys]
    finally:
        await client.aclose()


async def test_the_campaigns_are_spread_over_every_node(
    redis_cluster: ClusterProcesses, keys: KeySpace
) -> None:
    nodes = await nodes_of(redis_cluster, [keys.spend(c, DAY) for c in CAMPAIGNS])
    assert set(nodes) == {0, 1, 2}  # what the tests below rely on
    account = keys.account("c1", DAY)
    tagged = [account.spend, account.held, account.holds, account.expiries, account.ledger]
    tagged += [keys.charge("c1", "i"), keys.notice("billing", "i", "c1")]
    assert len(set(await nodes_of(redis_cluster, tagged))) == 1  # one campaign, one slot


async def test_a_request_holds_on_every_node_and_each_slot_decides_on_its_own(
    redis_cluster: ClusterProcesses, store: RedisStore, keys: KeySpace
) -> None:
    await open_ledger(store, keys, CAMPAIGNS)
    accounts = [keys.account(c, DAY) for c in CAMPAIGNS]
    holds = [Hold(a, f"a1:1:{n}", 100, 1_000, 60_000) for n, a in enumerate(accounts)]
    assert await store.reserve(holds) == [True] * len(CAMPAIGNS)
    held_keys = redis_cluster.keys_per_node(f"{keys.prefix}held:*")
    assert all(held_keys), "every node holds some campaigns' money"
    assert sorted(k for node in held_keys for k in node) == sorted(a.held for a in accounts)
    assert await store.read_many([a.held for a in accounts]) == [100] * len(CAMPAIGNS)
    # One script call per slot, each sent to the node that holds it.
    before = evalsha_calls(redis_cluster)
    spare = [Hold(a, f"a3:1:{n}", 1, 1_000, 60_000) for n, a in enumerate(accounts)]
    assert await store.reserve(spare) == [True] * len(CAMPAIGNS)
    calls = [after - was for after, was in zip(evalsha_calls(redis_cluster), before, strict=True)]
    slots = {key_slot(a.spend.encode()) for a in accounts}
    assert sum(calls) == len(slots)
    assert all(calls)  # every node got its share
    await store.release([(h.account, h.hold_id) for h in spare])
    # Ten more on c0 and one on c1, in one request: c0's slot decides its ten in order.
    more = [Hold(accounts[0], f"a2:1:{n}", 100, 1_000, 60_000) for n in range(10)]
    more.append(Hold(accounts[1], "a2:1:c1", 900, 1_000, 60_000))
    assert await store.reserve(more) == [True] * 9 + [False, True]
    assert await store.read_many([accounts[0].held, accounts[1].held]) == [1_000, 1_000]
    await store.release([(h.account, h.hold_id) for h in holds + more])
    assert await store.read_many([a.held for a in accounts]) == [0] * len(CAMPAIGNS)


async def test_a_refused_request_leaves_nothing_held_on_any_slot(
    store: RedisStore, keys: KeySpace
) -> None:
    await open_ledger(store, keys, CAMPAIGNS)
    await store._client.delete(keys.ledger_marker("c7"))  # c7's node lost it
    accounts = [keys.account(c, DAY) for c in CAMPAIGNS]
    holds = [Hold(a, f"a1:1:{n}", 100, 1_000, 60_000) for n, a in enumerate(accounts)]
    with pytest.raises(LedgerLost):
        await store.reserve(holds)
    assert await store.read_many([a.held for a in accounts]) == [0] * len(CAMPAIGNS)
    charge = Charge(
        accounts[7],
        "a1:1:7",
        50,
        1_000,
        keys.charge("c7", "i"),
        keys.notice("billing", "i", "c7"),
        60,
    )
    with pytest.raises(LedgerLost):
        await store.settle(charge)


async def test_pipelined_counts_and_values_land_on_their_slots_with_their_ttls(
    redis_cluster: ClusterProcesses, store: RedisStore, keys: KeySpace
) -> None:
    counted = [keys.frequency(c, "u1", "d2026-12-02") for c in CAMPAIGNS]
    await store.incr_many([(k, 100) for k in counted] + [(counted[0], 5)])
    await store.add_many([(k, 7, 200) for k in counted])
    put = [f"{keys.prefix}pace:{{c:{c}}}:u" for c in CAMPAIGNS]
    await store.put_many([(k, -n, 300) for n, k in enumerate(put)])
    assert await store.read_many(counted) == [9] + [8] * (len(CAMPAIGNS) - 1)
    assert await store.read_many(put) == [-n for n in range(len(CAMPAIGNS))]
    assert all(redis_cluster.keys_per_node(f"{keys.prefix}freq:*"))
    client = store._client
    assert 95 < await client.ttl(counted[0]) <= 100  # the first count set it, once
    assert 295 < await client.ttl(put[-1]) <= 300


def _exchange_process(url: str, prefix: str, seed: int, deadline: float) -> None:
    """One exchange process: requests holding on 1-8 random campaigns at once, each bid
    then lost (released), billed (settled at most its hold) or never settled (expires),
    until no request gets a hold any more (every budget spent) or the deadline."""

    async def run() -> None:
        rng = random.Random(seed)
        keys = KeySpace(prefix)
        store = RedisStore.from_url(url, timeout_s=10.0, cluster=True)  # a loaded machine
        await open_ledger(store, keys, CAMPAIGNS)
        n = refused_in_a_row = 0
        try:
            while time.monotonic() < deadline and refused_in_a_row < 200:
                n += 1
                chosen = rng.sample(CAMPAIGNS, rng.randint(1, 8))
                holds = [
                    Hold(keys.account(c, DAY), f"p{seed}-{n}:{c}", HOLD, BUDGET, 300)
                    for c in chosen
                ]
                placed = await store.reserve(holds)
                refused_in_a_row = 0 if any(placed) else refused_in_a_row + 1
                if not any(placed):
                    await asyncio.sleep(0.002)
                settles, releases = [], []
                for hold, ok in zip(holds, placed, strict=True):
                    fate = rng.random()
                    if not ok or fate > 0.97:
                        continue  # refused, or the notice never comes
                    if fate < 0.4:
                        releases.append((hold.account, hold.hold_id))
                    else:
                        campaign = hold.hold_id.rpartition(":")[2]
                        settles.append(
                            Charge(
                                hold.account,
                                hold.hold_id,
                                rng.randint(1_000, HOLD),
                                BUDGET,
                                keys.charge(campaign, hold.hold_id),
                                keys.notice("billing", hold.hold_id, campaign),
                                60,
                            )
                        )
                await store.release(releases)
                await asyncio.gather(*(store.settle(c) for c in settles))
        finally:
            await store.aclose()

    asyncio.run(run())


async def test_processes_holding_across_slots_never_overspend_any_campaign(
    redis_cluster: ClusterProcesses, store: RedisStore, keys: KeySpace
) -> None:
    await open_ledger(store, keys, CAMPAIGNS)
    accounts = [keys.account(c, DAY) for c in CAMPAIGNS]
    deadline = time.monotonic() + 60
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_exchange_process, args=(redis_cluster.url, keys.prefix, seed, deadline)
        )
        for seed in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    samples, worst = 0, 0
    watched = [k for a in accounts for k in (a.spend, a.held)]
    # The watcher waits longer than the 1 s the other tests allow: four processes hammer
    # the three nodes on two cores, and a slow sample is still a sample.
    watcher = RedisStore.from_url(redis_cluster.url, timeout_s=10.0, cluster=True)
    try:
        while any(worker.is_alive() for worker in workers):
            # One MGET per slot: a campaign's spend and held are read together, atomically.
            values = await watcher.read_many(watched)
            worst = max(worst, *(values[i] + values[i + 1] for i in range(0, len(values), 2)))
            samples += 1
            await asyncio.sleep(0.005)
    finally:
        for worker in workers:
            await asyncio.to_thread(worker.join, 30)
        await watcher.aclose()
    assert all(worker.exitcode == 0 for worker in workers)
    assert samples > 10
    assert worst <= BUDGET
    spent = await store.read_many([a.spend for a in accounts])
    assert all(s <= BUDGET for s in spent)
    assert sum(spent) >= 0.95 * BUDGET * len(CAMPAIGNS), spent  # and nearly all delivered


# --- the ledger admin on the cluster ---------------------------------------------------


class Campaign:
    def __init__(self, campaign_id: str) -> None:
        self.id, self.time_zone, self.daily_budget_micros = campaign_id, "UTC", BUDGET


async def test_ledger_init_status_and_restore_on_the_cluster(
    redis_cluster: ClusterProcesses, store: RedisStore, keys: KeySpace
) -> None:
    campaigns = [Campaign(c) for c in CAMPAIGNS]
    client = store._client
    record = await init_ledger(client, keys, campaigns)
    report = await ledger_status(client, keys, campaigns)
    assert report.healthy
    assert report.record["epoch"] == record["epoch"]
    marker_nodes = redis_cluster.keys_per_node(f"{keys.prefix}ledger:*")
    assert all(marker_nodes)  # the markers live with their campaigns, on every node
    store.use_epoch(record["epoch"])
    today = datetime.now(UTC).date().isoformat()
    hold = Hold(keys.account("c5", today), "a:1:b", 3_000, BUDGET, 60_000)
    assert await store.reserve([hold]) == [True]
    result = await store.settle(
        Charge(
            hold.account,
            "a:1:b",
            2_000,
            BUDGET,
            keys.charge("c5", "a:1:b"),
            keys.notice("billing", "a:1:b", "c5"),
            600,
        )
    )
    assert result.charged_micros == 2_000

    # The scan for existing spend reaches every primary: under a prefix of its own, one
    # spend key on each node in turn is found.
    fresh = KeySpace(f"{keys.prefix}fresh:")
    assert await init_ledger(client, fresh, campaigns)
    for node in range(len(redis_cluster.ports)):
        other = KeySpace(f"{keys.prefix}other{node}:")
        spends = [other.spend(c, today) for c in CAMPAIGNS]
        located = await nodes_of(redis_cluster, spends)
        await client.set(spends[located.index(node)], 5)
        with pytest.raises(LedgerAdminError, match="holds spend"):
            await init_ledger(client, other, campaigns)

    # c5's node loses its data: the restore puts the charge back on c5's slot, once.
    for key in await _keys_of(client, keys, "c5"):
        await client.delete(key)
    assert not (await ledger_status(client, keys, campaigns)).healthy
    now = int(time.time())
    event = {
        "kind": "notice_billing",
        "auction_id": "a",
        "imp_id": "1",
        "bid_id": "b",
        "campaign_id": "c5",
        "issued_at_s": str(now),
        "expires_at_s": str(now + 3600),
        "charged_micros": "2000",
        "settlement": "settled",
    }
    summary = await restore_ledger(client, keys, campaigns, [event, event])
    assert (summary.charges_restored, summary.micros_restored) == (1, 2_000)
    assert (await ledger_status(client, keys, campaigns)).healthy
    assert await store.read_many([keys.spend("c5", today)]) == [2_000]


async def _keys_of(client: RedisClient, keys: KeySpace, campaign: str) -> list[str]:
    """Every key of one campaign, wherever its slot lives (a cluster scans every primary)."""
    return [key async for key in client.scan_iter(match=f"{keys.prefix}*{{c:{campaign}}}*")]
