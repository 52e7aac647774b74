"""Notices under full load: does a healthy but busy Redis look like an outage?

``rtb serve --workers 2`` on a Redis of its own prefix, with a client on the same two cores
sending auctions as fast as they are answered and firing the won bids' notices (each
billing notice, a third of the win notices, a fifth of them twice). Per configuration of
the store's timeout and circuit breaker, in one run: auctions and notices answered, how
notices were answered (204, 202 queued, 503), how often the circuit opened (from the
workers' logs), and the store's call latencies as a worker's ``/metrics`` reports them.

Run: ``python -m bench --section notice-load`` (or ``python -m bench.notice_load``).
"""

import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

import httpx
import orjson
import uvloop
from redis import Redis

from bench.loadgen import KeepAliveConnection, build_request
from bench.section import Options, Report, Table, progress

__all__ = ["LoadOutcome", "Served", "StoreConfig", "run", "run_load", "serve_workers"]

REQUEST: Final = Path(__file__).resolve().parent.parent / "app/examples/request_simple_banner.json"
_QUANTILES: Final = (0.5, 0.99, 0.999)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The store settings compared: its socket timeout and its circuit breaker."""

    label: str
    timeout_s: float
    breaker_failures: int
    breaker_window_s: float

    def environment(self) -> dict[str, str]:
        return {
            "RTB_REDIS_TIMEOUT_S": str(self.timeout_s),
            "RTB_STORE_BREAKER_FAILURES": str(self.breaker_failures),
            "RTB_STORE_BREAKER_WINDOW_S": str(self.breaker_window_s),
        }


BEFORE: Final = StoreConfig("before (20 ms, 3 failures)", 0.02, 3, 0.0)
DEFAULTS: Final = StoreConfig("defaults (250 ms, 5 failures over 0.5 s)", 0.25, 5, 0.5)


@dataclass(slots=True)
class LoadOutcome:
    """What one configuration met."""

    config: StoreConfig
    seconds: float = 0.0
    auctions: Counter[int] = field(default_factory=Counter)
    notices: Counter[str] = field(default_factory=Counter)
    """By ``status`` or ``status result`` (``204 recorded``, ``202 queued``, ``503``)."""
    circuit_opened: int = 0
    store_latency_ms: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per store operation, the upper bucket bounds of the p50, p99 and p99.9 call."""

    @property
    def notice_503(self) -> int:
        return sum(n for key, n in self.notices.items() if key.startswith("503"))

    @property
    def queued(self) -> int:
        return self.notices.get("202 queued", 0)


def run_load(
    config: StoreConfig,
    *,
    redis_url: str,
    duration_s: float,
    concurrency: int = 48,
    seed: int = 1,
) -> LoadOutcome:
    """One configuration: start the server, load it, stop it; what it met."""
    with serve_workers(redis_url, config.environment()) as served:
        outcome = uvloop.run(_load(config, served.port, duration_s, concurrency, seed))
        outcome.store_latency_ms = _store_latency(served.base_url)
    outcome.circuit_opened = _circuit_openings(served.log)
    return outcome


@dataclass(slots=True)
class Served:
    """``rtb serve --workers N`` on a Redis prefix of its own, as ``serve_workers`` runs it."""

    port: int
    environment: dict[str, str]
    """What the workers run with (``rtb`` commands given it reach the same store)."""
    log: bytes = b""
    """The workers' log lines, once they have stopped."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rtb(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Run an ``rtb`` command against the same store and settings."""
        rtb = str(Path(sys.executable).with_name("rtb"))
        return subprocess.run([rtb, *args], env=self.environment, capture_output=True, check=True)


@contextmanager
def serve_workers(
    redis_url: str, settings: Mapping[str, str] = MappingProxyType({}), workers: int = 2
) -> Iterator[Served]:
    """Start ``rtb serve --workers N`` (ledger created first) with ``settings`` (``RTB_*``)
    on a fresh key prefix of ``redis_url``; stop it and delete its keys afterwards."""
    prefix = f"bench-load-{secrets.token_hex(4)}:"
    with tempfile.TemporaryDirectory(prefix="rtb-load-") as state:
        env = dict(os.environ) | dict(settings)
        env |= {
            "RTB_STORE": "redis",
            "RTB_REDIS_URL": redis_url,
            "RTB_KEY_PREFIX": prefix,
            "RTB_NOTICE_SECRET": secrets.token_hex(32),
            "RTB_STATE_DIR": state,
            "RTB_LOG_JSON": "true",
        }
        served = Served(_free_port(), env)
        served.rtb("ledger", "init")
        log_path = Path(state) / "server.log"
        try:
            with log_path.open("wb") as log_file:
                server = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("rtb")),
                        "serve",
                        "--workers",
                        str(workers),
                        "--port",
                        str(served.port),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log_file,
                )
                try:
                    _wait_ready(served.base_url, server)
                    yield served
                finally:
                    server.terminate()
                    server.wait(timeout=30)
            served.log = log_path.read_bytes()
        finally:
            _delete_prefix(redis_url, prefix)


def _get(port: int, url: str) -> bytes:
    parts = urlsplit(url)
    return f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def _notice_result(head: bytes) -> str | None:
    at = head.lower().find(b"\r\nx-notice-result:")
    if at < 0:
        return None
    end = head.find(b"\r\n", at + 2)
    return head[at + 19 : end if end >= 0 else len(head)].strip().decode()


async def _load(
    config: StoreConfig, port: int, duration_s: float, concurrency: int, seed: int
) -> LoadOutcome:
    auction = build_request("127.0.0.1", port, "/openrtb2/auction", REQUEST.read_bytes())
    outcome = LoadOutcome(config)
    rng = random.Random(seed)

    async def notice(connection: KeepAliveConnection, url: str) -> None:
        status, head, _ = await connection.send(_get(port, url))
        result = _notice_result(head)
        outcome.notices[f"{status} {result}" if result else str(status)] += 1

    async def worker(ends: float) -> None:
        connection = await KeepAliveConnection.open(port)
        try:
            while time.monotonic() < ends:
                status, _, body = await connection.send(auction)
                outcome.auctions[status] += 1
                if status != 200:
                    continue
                bid = orjson.loads(body)["seatbid"][0]["bid"][0]
                await notice(connection, bid["burl"])
                if rng.random() < 0.33:
                    await notice(connection, bid["nurl"])
                if rng.random() < 0.2:
                    await notice(connection, bid["burl"])
        finally:
            await connection.aclose()

    started = time.monotonic()
    await asyncio.gather(*(worker(started + duration_s) for _ in range(concurrency)))
    outcome.seconds = time.monotonic() - started
    return outcome


def _wait_ready(base: str, server: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("rtb serve exited during start-up")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("rtb serve did not become ready")


def _store_latency(base: str) -> dict[str, tuple[float, ...]]:
    """Per operation, upper bucket bounds of the p50/p99/p99.9 call, from the worker that
    answered the most calls of several scrapes (each scrape reaches one of the two)."""
    best: dict[str, tuple[float, list[tuple[float, float]]]] = {}
    for _ in range(6):
        text = httpx.get(f"{base}/metrics", timeout=5.0).text
        for operation, buckets in _buckets(text).items():
            total = buckets[-1][1] if buckets else 0.0
            if operation not in best or total > best[operation][0]:
                best[operation] = (total, buckets)
    return {
        operation: tuple(_quantile(buckets, q) for q in _QUANTILES)
        for operation, (_, buckets) in best.items()
    }


def _buckets(metrics_text: str) -> dict[str, list[tuple[float, float]]]:
    found: dict[str, list[tuple[float, float]]] = {}
    for line in metrics_text.splitlines():
        if not line.startswith("rtb_store_call_seconds_bucket{"):
            continue
        labels, _, value = line.rpartition(" ")
        fields = dict(part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(","))
        bound = fields["le"].strip('"')
        upper = float("inf") if bound == "+Inf" else float(bound)
        found.setdefault(fields["operation"].strip('"'), []).append((upper, float(value)))
    return {op: sorted(buckets) for op, buckets in found.items()}


def _quantile(buckets: Sequence[tuple[float, float]], q: float) -> float:
    total = buckets[-1][1] if buckets else 0.0
    for upper, count in buckets:
        if count >= q * total:
            return upper * 1000
    return float("inf")


def _circuit_openings(log: bytes) -> int:
    opened = 0
    for line in log.splitlines():
        if b'"store_circuit"' not in line:
            continue
        try:
            entry: Mapping[str, object] = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        opened += entry.get("new") == "open"
    return opened


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _delete_prefix(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    finally:
        client.close()


def run(options: Options) -> Report:
    """Both configurations side by side, ``options.duration_s`` each."""
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    outcomes = []
    for config in (BEFORE, DEFAULTS):
        progress(f"notice-load: {config.label}")
        outcomes.append(run_load(config, redis_url=redis_url, duration_s=options.duration_s))
    rows = [
        [
            o.config.label,
            f"{sum(o.auctions.values()) / o.seconds:,.0f}",
            f"{sum(o.notices.values()):,}",
            f"{o.notice_503:,}",
            f"{o.queued:,}",
            f"{o.circuit_opened:,}",
        ]
        for o in outcomes
    ]
    latency_rows = [
        [o.config.label, operation, *(f"{ms:g}" for ms in quantiles)]
        for o in outcomes
        for operation, quantiles in sorted(o.store_latency_ms.items())
        if operation in ("settle", "reserve", "read_many", "claim")
    ]
    return Report(
        "notices under full load (rtb serve --workers 2, 2 cores shared with the client)",
        context=[f"{options.duration_s:g} s per configuration, 48 concurrent clients"],
        tables=[
            Table(
                "answers",
                [
                    "store settings",
                    "auctions/s",
                    "notices",
                    "notice 503",
                    "queued",
                    "circuit opened",
                ],
                rows,
            ),
            Table(
                "store call latency (ms, upper bucket bound), one worker",
                ["store settings", "operation", "p50", "p99", "p99.9"],
                latency_rows,
            ),
        ],
    )


if __name__ == "__main__":
    print(run(Options(duration_s=float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)).render())
