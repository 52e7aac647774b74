"""The ledger's work on one Redis node: what a node sustains per second, and what it costs.

Redis runs commands on one thread, so a node's capacity is one core divided by its CPU
per operation. This section starts a redis-server of its own (free port, pinned to the
server core, the load generator on the other), once without persistence and once with
AOF as production runs it (``appendfsync everysec``), and sends it each operation of the
money path in turn, pipelined from several tasks so the node is kept busy: a hold of one
campaign (what a cluster sends per slot), a hold of ten campaigns in one call (what one
node gets per request), a release, a settlement with a frequency cap, the caps read, a
notice marker, the event stream's XADD and ``rtb export`` reading the events back. Per
operation: the node's own CPU (its command thread's, from INFO, so the figure holds even
when this one Python client cannot saturate the node), the client's CPU, the rate
reached, and the node's capacity at 100 % of its core. Then one exchange process's
background polls (ledger check, pacing tick, creative counts) for 1,000 campaigns.

With ``RTB_BENCH_CLUSTER_URL`` (a node of a running cluster), the polls are measured on
the cluster too, and what the exchange process pays per auction (the ``store`` section's:
caps and holds for 100 candidates) on the cluster against one node (``REDIS_URL``): there
a request's holds and caps become one call per slot.
"""

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from bench.processes import Pinning, free_port, pinning, spawn, wait_for_port
from bench.section import Options, Report, Table, progress
from bench.store import CANDIDATES, time_store
from bidding.creative_stats import StoreCreativeStats
from bidding.strategy import advice_at
from budget import scripts
from budget.days import SPEND_KEY_TTL_S
from budget.keys import KeySpace
from budget.ledger_watch import LedgerWatch
from budget.pacing import StorePacer
from budget.redis_store import RedisStore, open_client, ready
from budget.stream import RedisEventStream
from exchange.export import export_events

__all__ = ["run"]

OPS: Final = 20_000
"""Operations per workload (each of a fresh hold, campaign-day or event)."""
CAMPAIGNS: Final = 1_000
TASKS: Final = 8
PIPELINE: Final = 32
"""Commands per pipelined round trip, per task: enough to keep one node busy."""
_EPOCH: Final = "bench-epoch"
_BUDGET: Final = 10**15
_DAY: Final = "2026-12-02"
_EVENT: Final = {
    "kind": "auction",
    "ts_ms": "1796180000000",
    "auction_id": "a7c1f0e2b3d4",
    "request_id": "req-6f1c2a9e-banner",
    "imps": "1",
    "mechanism": "second_price",
    "outcome": "won",
    "winners": "1-acme-shoes-spring:2400000:1910000",
}
"""A typical auction event (the stream's most frequent)."""


@dataclass(frozen=True, slots=True)
class Measured:
    """One workload on one node."""

    label: str
    ops: int
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float

    @property
    def server_us(self) -> float:
        return self.server_cpu_s * 1e6 / self.ops

    @property
    def capacity(self) -> float:
        """Operations per second at 100 % of the node's core."""
        return self.ops / self.server_cpu_s if self.server_cpu_s > 0 else float("inf")


Command = tuple[Any, ...]
_NODE_HEADER: Final = (
    "operation",
    "node CPU µs",
    "client CPU µs",
    "ops/s reached",
    "node use",
    "ops/s per node core",
)


class _NodeCpu:
    """The CPU seconds the command threads of some nodes have used (INFO gives microseconds
    where ``/proc`` gives 10 ms ticks; AOF's fsync thread aside)."""

    def __init__(self, addresses: Sequence[tuple[str, int]]) -> None:
        self._clients = [Redis(host=host, port=port, socket_timeout=30) for host, port in addresses]

    async def seconds(self) -> float:
        total = 0.0
        for client in self._clients:
            info = await client.info("cpu")
            total += float(info["used_cpu_user_main_thread"])
            total += float(info["used_cpu_sys_main_thread"])
        return total

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


class _Node:
    """A throwaway redis-server's client, with the scripts loaded."""

    def __init__(self, client: Redis, cpu: _NodeCpu) -> None:
        self.client = client
        self.cpu = cpu.seconds
        self.keys = KeySpace(f"bench-{secrets.token_hex(3)}:")
        self.sha: dict[str, str] = {}

    async def load(self) -> None:
        for name in ("RESERVE", "RELEASE", "CHARGE"):
            self.sha[name] = await self.client.script_load(getattr(scripts, name))
        async with self.client.pipeline(transaction=False) as pipe:
            for c in range(CAMPAIGNS):
                pipe.set(self.keys.ledger_marker(f"c{c}"), _EPOCH)
            await pipe.execute()

    async def measure(self, label: str, commands: Sequence[Command], per: int = 1) -> Measured:
        """Send ``commands`` from ``TASKS`` tasks in pipelines of ``PIPELINE``; ``per``:
        operations each command stands for (holds in one call, events in one batch)."""
        chunks = [commands[i : i + PIPELINE] for i in range(0, len(commands), PIPELINE)]
        queue = iter(chunks)

        async def worker() -> None:
            for chunk in queue:
                async with self.client.pipeline(transaction=False) as pipe:
                    for command in chunk:
                        pipe.execute_command(*command)
                    await pipe.execute()

        server, client, wall = await self.cpu(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(TASKS)))
        wall, client = time.perf_counter() - wall, time.process_time() - client
        return Measured(label, len(commands) * per, wall, await self.cpu() - server, client)


def _account(node: _Node, n: int) -> list[str]:
    a = node.keys.account(f"c{n % CAMPAIGNS}", _DAY)
    return [a.spend, a.held, a.holds, a.expiries, a.ledger]


def _reserve(node: _Node, holds: Sequence[tuple[int, str]]) -> Command:
    """One RESERVE call for ``holds`` (campaign number, hold id)."""
    keys = [k for n, _ in holds for k in _account(node, n)]
    packed = orjson.dumps([[hold_id, 2_400, _BUDGET, 600_000] for _, hold_id in holds])
    return ("EVALSHA", node.sha["RESERVE"], len(keys), *keys, packed, SPEND_KEY_TTL_S, _EPOCH)


def _release(node: _Node, n: int, hold_id: str) -> Command:
    a = node.keys.account(f"c{n % CAMPAIGNS}", _DAY)
    keys = [a.held, a.holds, a.expiries]
    return ("EVALSHA", node.sha["RELEASE"], 3, *keys, orjson.dumps([hold_id]))


def _charge(node: _Node, n: int, hold_id: str) -> Command:
    cid = f"c{n % CAMPAIGNS}"
    keys = _account(node, n)
    keys += (node.keys.charge(cid, hold_id), node.keys.notice("billing", hold_id, cid))
    keys.append(node.keys.frequency(cid, f"u{n}", f"d{_DAY}"))
    args = [hold_id, 1_910, _BUDGET, 90_000, SPEND_KEY_TTL_S, _EPOCH, 172_800]
    return ("EVALSHA", node.sha["CHARGE"], len(keys), *keys, *args)


async def _workloads(node: _Node) -> list[Measured]:
    """Each operation of the money path, ``OPS`` times (holds stay until released or
    settled, so every hash and sorted set stays a realistic size)."""
    await node.load()
    ones = [(n, f"one-{n}") for n in range(OPS)]
    tens = [[(n * 10 + k, f"ten-{n}-{k}") for k in range(10)] for n in range(OPS // 10)]
    windows = (f"d{_DAY}", "h491160")
    measured = [
        await node.measure("hold, 1 campaign (RESERVE)", [_reserve(node, [h]) for h in ones]),
        await node.measure("release, 1 hold (RELEASE)", [_release(node, n, h) for n, h in ones]),
        await node.measure(
            "holds, 10 campaigns in one call (RESERVE), per hold",
            [_reserve(node, group) for group in tens],
            per=10,
        ),
        await node.measure(
            "settle, 1 cap (CHARGE)",
            [_charge(node, n, h) for group in tens for n, h in group],
        ),
        await node.measure(
            "caps read of 1 campaign, 2 keys (MGET)",
            [
                ("MGET", *(node.keys.frequency(f"c{n % CAMPAIGNS}", f"u{n}", w) for w in windows))
                for n in range(OPS)
            ],
        ),
    ]
    claims = [
        ("SET", node.keys.notice("billing", f"a{n}:1:b"), "1", "NX", "EX", 90_000)
        for n in range(OPS)
    ]
    measured.append(await node.measure("notice marker (SET NX EX)", claims))
    stream = f"{node.keys.prefix}events"
    fields = [item for pair in _EVENT.items() for item in pair]
    xadd = ("XADD", stream, "MAXLEN", "~", 1_000_000, "*", *fields)
    measured.append(await node.measure("event (XADD, 8 fields)", [xadd] * OPS))
    measured.append(await _export(node, stream))
    return measured


async def _export(node: _Node, key: str) -> Measured:
    """``rtb export`` of the ``OPS`` events just added: read through a consumer group,
    acknowledged, written as CSV (one exporter process, one shard)."""
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        stream = RedisEventStream(node.client, key, 1_000_000)
        server, client, wall = await node.cpu(), time.process_time(), time.perf_counter()
        exported = await export_events(stream, Path(tmp) / "events.csv")
        wall, client = time.perf_counter() - wall, time.process_time() - client
    return Measured(
        "export, per event (rtb export)", exported, wall, await node.cpu() - server, client
    )


async def _on_node(port: int, polls: bool) -> tuple[list[Measured], list[Measured]]:
    """The workloads on the node at ``port``; with ``polls``, a process's polls too."""
    client = Redis(host="127.0.0.1", port=port, socket_timeout=30)
    cpu = _NodeCpu([("127.0.0.1", port)])
    try:
        measured = await _workloads(_Node(client, cpu))
        if not polls:
            return measured, []
        store = RedisStore(Redis(host="127.0.0.1", port=port, socket_timeout=30))
        try:
            return measured, await _polls(store, cpu)
        finally:
            await store.aclose()
    finally:
        await cpu.aclose()
        await client.aclose()


@dataclass(frozen=True, slots=True)
class _Paced:
    id: str
    time_zone: str = "UTC"
    daily_budget_micros: int = 100_000_000


async def _polls(store: RedisStore, cpu: _NodeCpu, rounds: int = 10) -> list[Measured]:
    """What every exchange process reads in the background, whatever its traffic: the
    ledger check (every ``RTB_LEDGER_CHECK_S``), the pacing tick and the creative counts'
    refresh (every 5 s), for ``CAMPAIGNS`` campaigns of 3 creatives."""
    keys = KeySpace(f"bench-{secrets.token_hex(3)}:")
    ids = [f"c{c}" for c in range(CAMPAIGNS)]
    watch = LedgerWatch(store, keys, ids, auto_init=True)
    await watch.open()
    pacer = StorePacer([_Paced(c) for c in ids], store, keys, advice=advice_at)
    stats = StoreCreativeStats(store, keys, pairs=[(c, f"{c}-{k}") for c in ids for k in range(3)])
    measured = []
    for label, poll in (
        ("ledger check (record + markers)", watch.check),
        ("pacing tick", pacer.tick),
        ("creative counts refresh", stats.refresh),
    ):
        await poll()  # the first pacing tick of a day also reads a week of traffic counts
        server, client, wall = await cpu.seconds(), time.process_time(), time.perf_counter()
        for _ in range(rounds):
            await poll()
        wall, client = time.perf_counter() - wall, time.process_time() - client
        measured.append(Measured(label, rounds, wall, await cpu.seconds() - server, client))
    return measured


def _server_args(binary: str, port: int, data: Path, aof: bool) -> list[str]:
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(data)]
    if aof:
        return [*args, "--appendonly", "yes", "--appendfsync", "everysec"]
    return [*args, "--appendonly", "no"]


def _node_runs(pins: Pinning, binary: str) -> tuple[dict[str, list[Measured]], list[Measured]]:
    results: dict[str, list[Measured]] = {}
    polls: list[Measured] = []
    own = os.sched_getaffinity(0)
    if pins.loadgen_core is not None:
        os.sched_setaffinity(0, {pins.loadgen_core})
    try:
        for mode, aof in (("no persistence", False), ("AOF everysec", True)):
            progress(f"store-node: one redis-server, {mode}")
            with tempfile.TemporaryDirectory(prefix="bench-store-node-") as tmp:
                port = free_port()
                argv = [*pins.server, *_server_args(binary, port, Path(tmp), aof)]
                with spawn(argv, stdout=subprocess.DEVNULL) as server:
                    wait_for_port(port, server)
                    results[mode], found = asyncio.run(_on_node(port, polls=not aof))
                    polls += found
    finally:
        os.sched_setaffinity(0, own)
    return results, polls


async def _cluster_polls(url: str) -> list[Measured]:
    store = RedisStore.from_url(url, timeout_s=5.0, cluster=True)
    client = await ready(store._client)
    assert isinstance(client, RedisCluster)
    cpu = _NodeCpu([(node.host, int(node.port)) for node in client.get_primaries()])
    try:
        return await _polls(store, cpu)
    finally:
        await cpu.aclose()
        await store.aclose()


def _client_rows(cluster_url: str, auctions: int = 500) -> list[list[str]]:
    """The ``store`` section's auction (caps read, holds for 100 candidates, released
    after) on one node and on the cluster: the exchange process's side of the split."""

    async def timed(url: str, cluster: bool) -> tuple[float, float, float]:
        prefix = f"bench-{secrets.token_hex(3)}:"
        store = RedisStore.from_url(url, timeout_s=5.0, cluster=cluster)
        try:
            return await time_store(store, prefix, auctions)
        finally:
            await store.aclose()
            client = open_client(url, cluster=cluster, timeout_s=5.0)
            async for key in client.scan_iter(match=f"{prefix}*", count=1000):  # every primary
                await client.delete(key)
            await client.aclose()

    node_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    rows = []
    for label, url, cluster in (("one node", node_url, False), ("cluster", cluster_url, True)):
        median, p99, cpu = asyncio.run(timed(url, cluster))
        rows.append([label, f"{cpu:,.0f}", f"{median:,.0f}", f"{p99:,.0f}"])
    return rows


def _report(
    pins: Pinning,
    results: dict[str, list[Measured]],
    polls: dict[str, list[Measured]],
    client: list[list[str]],
) -> Report:
    tables = []
    for mode, measured in results.items():
        tables.append(
            Table(
                f"one Redis node, {mode}: {TASKS} tasks × pipelines of {PIPELINE}",
                _NODE_HEADER,
                [
                    [
                        m.label,
                        f"{m.server_us:.1f}",
                        f"{m.client_cpu_s * 1e6 / m.ops:.1f}",
                        f"{m.ops / m.wall_s:,.0f}",
                        f"{m.server_cpu_s / m.wall_s:.0%}",
                        f"{m.capacity:,.0f}",
                    ]
                    for m in measured
                ],
            )
        )
    for where, measured in polls.items():
        tables.append(
            Table(
                f"one process's background polls, {CAMPAIGNS:,} campaigns, {where}",
                ["poll", "node CPU µs (all nodes)", "client CPU µs", "wall µs"],
                [
                    [
                        m.label,
                        f"{m.server_us:,.0f}",
                        f"{m.client_cpu_s * 1e6 / m.ops:,.0f}",
                        f"{m.wall_s * 1e6 / m.ops:,.0f}",
                    ]
                    for m in measured
                ],
            )
        )
    if client:
        tables.append(
            Table(
                f"exchange process per auction: caps + holds for {CANDIDATES} candidates, released",
                ["store", "client CPU µs", "median µs", "p99 µs"],
                client,
            )
        )
    notes = [
        "node CPU is the redis-server's command thread's (INFO cpu) per operation; ops/s per "
        "node core = 1 s / node CPU: what the node runs at 100 % of that one thread.",
        "node use below 100 %: the Python client is the limit here, not the node.",
    ]
    if not client:
        notes.append(
            "set RTB_BENCH_CLUSTER_URL=redis://host:port/0 (a node of a running cluster) to "
            "also time the exchange's side of holds split per slot"
        )
    return Report(
        "the ledger's operations on one Redis node",
        context=[pins.description, f"{OPS:,} operations per workload, {CAMPAIGNS:,} campaigns"],
        tables=tables,
        notes=notes,
    )


def run(options: Options) -> Report:
    """The ``store-node`` section of ``python -m bench`` (ignores the load options)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return Report("the ledger's operations on one Redis node", notes=["redis-server not found"])
    pins = pinning()
    progress(pins.description)
    results, node_polls = _node_runs(pins, binary)
    polls = {"one node": node_polls}
    cluster_url = os.environ.get("RTB_BENCH_CLUSTER_URL")
    client = []
    if cluster_url:
        progress("store-node: the exchange's side, one node against the cluster")
        polls["cluster"] = asyncio.run(_cluster_polls(cluster_url))
        client = _client_rows(cluster_url)
    return _report(pins, results, polls, client)
