"""Redis counter store: shared by every exchange process, atomic through Lua.

One client (and pool) per process, opened by the app's lifespan and closed with
``aclose()``. Scripts are registered once and called by SHA (redis-py reloads them on
NOSCRIPT). Every call has a small socket timeout; a timeout or connection error becomes
StoreUnavailable so callers fail safe instead of hanging the auction.

The same store runs on one Redis node or on a Redis Cluster (``open_client``). On a
cluster a script may only touch keys of one hash slot, and every campaign has a slot of its
own (its hash tag): so the holds of one request, one script call on a single node, become
one call per slot, sent as one pipeline per node, all nodes at once — each call still
atomic for its campaigns, so spend + held ≤ budget holds per campaign as before. Reads of
many keys (MGET) are split per slot the same way.
"""

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from budget import scripts
from budget.accounts import AccountKeys, Charge, ChargeResult, Hold, Settlement
from budget.days import SPEND_KEY_TTL_S
from budget.profile_write import ProfileWrite
from budget.store import LedgerLost, StoreUnavailable

_CREATE_RECORD = """
if redis.call('HEXISTS', KEYS[1], 'epoch') == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
end
return redis.call('HGETALL', KEYS[1])
"""

_PUT_VERSIONED = """
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], ARGV[1], '[' .. version .. ',' .. ARGV[2] .. ']')
return version
"""

RedisClient = Redis | RedisCluster
"""A client of one Redis node, or of a Redis Cluster (which finds the nodes and routes each
key to the node that holds its slot)."""

REDIS_ERRORS: Final = (RedisError, RedisClusterException)
"""What either client raises when the store cannot answer: a cluster client's own routing
failures (no node covers a slot, the topology cannot be read) are not RedisErrors."""


def open_client(
    url: str,
    *,
    cluster: bool = False,
    timeout_s: float,
    connect_timeout_s: float | None = None,
    max_connections: int | None = None,
    fail_fast: bool = False,
) -> RedisClient:
    """A client for ``url``: a single node, or (``cluster``) any node of a cluster.

    ``fail_fast`` is for the hot path. A single-node client then retries once, and only a
    connection error (a pooled connection the server dropped, or a refused connect: both
    fail fast), where redis-py retries a failed call several times with backoff by
    default: seconds of waiting during an outage. A cluster client then never retries: its
    retry also follows timeouts, and a pipeline's retry closes every node's connections
    and sleeps a quarter of a second; it still re-reads the topology after a failed call,
    before the next one, so a failover is followed. The circuit breaker takes it from
    there."""
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": connect_timeout_s or timeout_s,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    if cluster:
        if fail_fast:
            options["retry"] = Retry(NoBackoff(), 0)
        return RedisCluster.from_url(url, **options)
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return Redis.from_url(url, **options)


async def ready(client: RedisClient) -> RedisClient:
    """``client``, its cluster's slot table read (a no-op for a single node, or once read).

    A cluster client that has not read it yet routes a command it cannot place to a random
    node, and many such commands at once (the first auctions after start-up) end in
    redirects and in connections closed under each other (redis/redis-py#3935): so each
    call waits for the one reading of the table first."""
    if isinstance(client, RedisCluster):
        await client.initialize()
    return client


async def read_values(client: RedisClient, keys: Sequence[str]) -> list[Any]:
    """MGET of ``keys`` in their order (None where absent), on either client.

    On a single node one MGET: a pipeline of GETs costs the event loop ~20 µs per key in
    redis-py (82 ms for 4,000 keys against 6 ms). On a cluster one MGET per slot, as one
    pipeline per node, every node at once (what redis-py's ``mget_nonatomic`` does, but
    each command sent straight to its node: redis-py otherwise works out every key's slot
    twice per command)."""
    if not keys:
        return []
    if not isinstance(client, RedisCluster):
        return list(await client.mget(keys))
    groups = list(_by_slot(keys).values())
    answers = await _per_slot(client, [("MGET", *(keys[i] for i in group)) for group in groups])
    _first_error(answers)
    values: list[Any] = [None] * len(keys)
    for group, answer in zip(groups, answers, strict=True):
        for i, value in zip(group, answer, strict=True):
            values[i] = value
    return values


def _by_slot(keys: Sequence[str]) -> dict[int, list[int]]:
    """The positions of ``keys`` grouped by their hash slot, in order."""
    groups: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key_slot(key.encode()), []).append(i)
    return groups


async def _per_slot(client: RedisCluster, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run ``commands`` (each on keys of one slot, its first key at position 1 or, for
    EVALSHA, 3) as one pipeline per node, all nodes at once; their answers in order, a
    failed command's error in its place.

    Each command is addressed to the node of its slot, so redis-py does not work out
    the slot of every key again; a node that no longer holds the slot answers MOVED and
    redis-py sends the command again where the slot went. After a node failed to answer
    the slot table is read again (redis-py does so after a failed command, not after a
    failed pipeline), so the next call follows a failover."""
    await ready(client)
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            key = command[3] if command[0] == "EVALSHA" else command[1]
            pipe.execute_command(*command, target_nodes=client.get_node_from_key(key))
        answers: list[Any] = await pipe.execute(raise_on_error=False)
    if any(isinstance(a, RedisConnectionError | RedisTimeoutError) for a in answers):
        with contextlib.suppress(*REDIS_ERRORS):
            await client.nodes_manager.initialize()
    return answers


def _first_error(answers: Sequence[Any]) -> None:
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer


class RedisStore:
    """CounterStore on a real Redis server or a Redis Cluster."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._epoch: str | None = None
        self._reserve = client.register_script(scripts.RESERVE)
        self._release = client.register_script(scripts.RELEASE)
        self._charge = client.register_script(scripts.CHARGE)
        self._create_record = client.register_script(_CREATE_RECORD)
        self._claim_counted = client.register_script(scripts.CLAIM_COUNTED)
        self._claim_lower = client.register_script(scripts.CLAIM_LOWER)
        self._put_versioned = client.register_script(_PUT_VERSIONED)
        self._write_profile = client.register_script(scripts.PROFILE_WRITE)

    def use_epoch(self, epoch: str | None) -> None:
        self._epoch = epoch

    def _epoch_or_lost(self) -> str:
        if self._epoch is None:
            raise LedgerLost("no ledger epoch: the ledger is not open")
        return self._epoch

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout_s: float = 0.05,
        max_connections: int = 1024,
        cluster: bool = False,
    ) -> "RedisStore":
        """A store with its own pool (one per node on a cluster); ``timeout_s`` bounds every
        socket operation, and a failed call is not retried (``open_client``).

        The pool opens a connection per command in flight, up to ``max_connections``
        (redis-py's default, 100, fails the 101st concurrent call at once: a burst of
        notices on a healthy Redis would look like an outage). A blocking pool instead
        costs more CPU per call; see docs/decisions.md."""
        return cls(
            open_client(
                url,
                cluster=cluster,
                timeout_s=timeout_s,
                connect_timeout_s=max(timeout_s, 0.2),
                max_connections=max_connections,
                fail_fast=True,
            )
        )

    async def claim(self, key: str, ttl_s: int) -> bool:
        try:
            client = await ready(self._client)
            return bool(await client.set(key, b"1", nx=True, ex=ttl_s))
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def claim_lower(self, key: str, rank: int, ttl_ms: int) -> bool:
        try:
            await ready(self._client)
            return bool(await self._claim_lower(keys=[key], args=[rank, ttl_ms]))
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def claim_counted(self, key: str, counter: str, limit: int, ttl_s: int) -> int:
        try:
            await ready(self._client)
            return int(await self._claim_counted(keys=[key, counter], args=[limit, ttl_s]))
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def reserve(self, holds: Sequence[Hold]) -> list[bool]:
        if not holds:
            return []
        epoch = self._epoch_or_lost()
        groups = (
            [list(range(len(holds)))]
            if self._cluster is None
            else list(_by_slot([h.account.spend for h in holds]).values())
        )
        calls = []
        for group in groups:
            keys: list[str] = []
            for i in group:
                a = holds[i].account
                keys += (a.spend, a.held, a.holds, a.expiries, a.ledger)
            packed = orjson.dumps(
                [
                    [h.hold_id, h.amount_micros, h.budget_micros, h.ttl_ms]
                    for h in (holds[i] for i in group)
                ]
            )
            calls.append((keys, [packed, SPEND_KEY_TTL_S, epoch]))
        try:
            answers = await self._scripts(self._reserve, calls)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        placed = [False] * len(holds)
        lost = False
        for group, answer in zip(groups, answers, strict=True):
            if answer == scripts.LEDGER_LOST:
                lost = True
                continue
            for i, result in zip(group, answer, strict=True):
                placed[i] = bool(result)
        if lost:
            # On a cluster the other slots' calls went through: give their holds back, so
            # that a refused request leaves nothing held, as on a single node.
            with contextlib.suppress(StoreUnavailable):  # else they expire
                await self.release(
                    [(h.account, h.hold_id) for h, p in zip(holds, placed, strict=True) if p]
                )
            raise LedgerLost(f"a campaign's ledger marker is not epoch {epoch}")
        return placed

    async def release(self, holds: Sequence[tuple[AccountKeys, str]]) -> None:
        if not holds:
            return
        groups = (
            [list(range(len(holds)))]
            if self._cluster is None
            else list(_by_slot([account.held for account, _ in holds]).values())
        )
        calls = []
        for group in groups:
            keys: list[str] = []
            for i in group:
                account = holds[i][0]
                keys += (account.held, account.holds, account.expiries)
            calls.append((keys, [orjson.dumps([holds[i][1] for i in group])]))
        try:
            await self._scripts(self._release, calls)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def _scripts(
        self, script: AsyncScript, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Run ``script`` once per ``(keys, args)``: on a single node the one call there
        is; on a cluster one call per slot, through ``_per_slot``. A node that does not
        know the script yet (a new or restarted node) gets it, and its calls are sent again
        (redis-py refuses EVALSHA in a cluster pipeline only for that reason:
        redis/redis-py#2914)."""
        if self._cluster is None:
            return [await script(keys=keys, args=args) for keys, args in calls]
        commands = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
        answers = await _per_slot(self._cluster, commands)
        missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if missing:
            await self._cluster.script_load(script.script)  # on every primary
            again = await _per_slot(self._cluster, [commands[i] for i in missing])
            for i, answer in zip(missing, again, strict=True):
                answers[i] = answer
        _first_error(answers)
        return answers

    async def settle(self, charge: Charge) -> ChargeResult:
        epoch = self._epoch_or_lost()
        a = charge.account
        keys = [a.spend, a.held, a.holds, a.expiries, a.ledger]
        keys += (charge.charge_key, charge.notice_key, *(key for key, _ in charge.caps))
        args: list[Any] = [charge.hold_id, charge.cost_micros, charge.budget_micros]
        args += (charge.marker_ttl_s, SPEND_KEY_TTL_S, epoch, *(ttl for _, ttl in charge.caps))
        try:
            await ready(self._client)
            result, charged, first = await self._charge(keys=keys, args=args)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if result == scripts.LEDGER_LOST:
            raise LedgerLost(f"ledger marker {a.ledger} is not epoch {epoch}")
        return ChargeResult(Settlement(int(result)), int(charged), bool(first))

    async def incr_many(self, items: Sequence[tuple[str, int]]) -> None:
        if not items:
            return
        try:
            async with (await ready(self._client)).pipeline(transaction=False) as pipe:
                for key, ttl_s in items:
                    pipe.incr(key)
                    pipe.expire(key, ttl_s, nx=True)  # the window starts at the first count
                await pipe.execute()
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def add_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        if not items:
            return
        try:
            async with (await ready(self._client)).pipeline(transaction=False) as pipe:
                for key, amount, ttl_s in items:
                    pipe.incrby(key, amount)
                    pipe.expire(key, ttl_s, nx=True)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def put_many(self, items: Sequence[tuple[str, int | str, int]]) -> None:
        if not items:
            return
        try:
            async with (await ready(self._client)).pipeline(transaction=False) as pipe:
                for key, value, ttl_s in items:
                    pipe.set(key, value, ex=ttl_s)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def put_texts(self, items: Sequence[tuple[str, str, int]]) -> None:
        await self.put_many(items)

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        try:
            values = await read_values(self._client, keys)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [int(value) if value is not None else 0 for value in values]

    async def read_texts(self, keys: Sequence[str]) -> list[str | None]:
        try:
            values = await read_values(self._client, keys)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [as_text(value) if value is not None else None for value in values]

    async def read_record(self, key: str, fields: Sequence[str] | None = None) -> Mapping[str, str]:
        try:
            client = await ready(self._client)
            if fields is None:
                found = await client.hgetall(key)
            else:
                values = await client.hmget(key, list(fields))
                found = {f: v for f, v in zip(fields, values, strict=True) if v is not None}
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        return {as_text(k): as_text(v) for k, v in found.items()}

    async def read_counts_and_record(
        self, keys: Sequence[str], record_key: str
    ) -> tuple[list[int], Mapping[str, str]]:
        """One pipeline: the MGET (per slot on a cluster) and the HGETALL together."""
        try:
            if self._cluster is None:
                async with (await ready(self._client)).pipeline(transaction=False) as pipe:
                    if keys:
                        pipe.mget(keys)
                    pipe.hgetall(record_key)
                    answers = await pipe.execute()
                values = list(answers[0]) if keys else []
                found = answers[-1]
            else:
                groups = list(_by_slot(keys).values())
                commands: list[tuple[Any, ...]] = [
                    ("MGET", *(keys[i] for i in group)) for group in groups
                ]
                replies = await _per_slot(self._cluster, [*commands, ("HGETALL", record_key)])
                _first_error(replies)
                values = [None] * len(keys)
                for group, answer in zip(groups, replies, strict=False):
                    for i, value in zip(group, answer, strict=True):
                        values[i] = value
                found = _pairs(replies[-1])
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        counts = [int(value) if value is not None else 0 for value in values]
        return counts, {as_text(k): as_text(v) for k, v in found.items()}

    async def write_profile(self, write: ProfileWrite) -> None:
        args: list[Any] = [write.day, write.keep_days, write.max_fields, write.ttl_s, write.now_s]
        args += (len(write.increments), len(write.sets), len(write.deletes), *write.deletes)
        args += (item for pair in write.increments for item in pair)
        args += (item for pair in write.sets for item in pair)
        try:
            await ready(self._client)
            await self._scripts(self._write_profile, [([write.key], args)])
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def create_record(self, key: str, fields: Mapping[str, str]) -> Mapping[str, str]:
        flat = [item for pair in fields.items() for item in pair]
        try:
            await ready(self._client)
            answer = await self._create_record(keys=[key], args=flat)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        return {as_text(answer[i]): as_text(answer[i + 1]) for i in range(0, len(answer), 2)}

    async def put_versioned(self, key: str, field: str, value: str) -> int:
        try:
            await ready(self._client)
            return int(await self._put_versioned(keys=[key], args=[field, value]))
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def register_campaign(
        self, record_key: str, marker_key: str, campaign_id: str, epoch: str
    ) -> None:
        try:
            client = await ready(self._client)
            await client.set(marker_key, epoch, nx=True)
            await client.hsetnx(record_key, f"campaign:{campaign_id}", "1")
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def ping(self) -> bool:
        """Whether the store answers: on a cluster, every primary (each holds some
        campaigns' money)."""
        try:
            if self._cluster is not None:
                await ready(self._cluster)
                return bool(await self._cluster.ping(target_nodes=RedisCluster.PRIMARIES))
            return bool(await self._client.ping())
        except REDIS_ERRORS:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


def _pairs(reply: Any) -> Mapping[Any, Any]:
    """An HGETALL reply as a mapping: a raw cluster command answers a flat list."""
    if isinstance(reply, Mapping):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (replies are bytes: the clients do not decode)."""
    return value.decode() if isinstance(value, bytes) else value
