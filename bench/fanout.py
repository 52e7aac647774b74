"""Fan-out section: what calling external DSPs costs the exchange, per HTTP client setup.

Why: a stock ``httpx.AsyncClient`` was measured at 350–1,000 µs of CPU per bidder call and
its HTTP/1.1 pool collapsed with 50 DSPs and 8 auctions in flight, against ~60 µs for
aiohttp. This section measures every way the exchange could call its DSPs, side by side in
one run, against the same loopback peers:

- DSP peers (``bench.dsp_peer``: fixed ~600 B bid response, HTTP/1.1 keep-alive, h2c with
  prior knowledge, TLS h2 with a ``trustme`` certificate) run in two processes pinned to
  core 1, 50 answering ports and one that never answers, per protocol;
- each client configuration runs in its own process pinned to core 0 (the exchange's core):
  K auctions in flight (K = 1, 8), each one fan-out of the same pre-encoded 1.5 KB bid
  request to N bidders (N = 10, 50) awaited together, every call under a 50 ms
  ``asyncio.timeout`` deadline; then 10 bidders of which one hangs.

Per run: auctions/s, fan-out p50/p99, the client process's CPU time ÷ bidder calls (from
``time.process_time`` over the measured window), failures and timeouts, the HTTP version
actually used, and the peers' share of their core (they must not be the limit).

The client side also runs standalone: ``python -m bench.fanout --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import httpx

from bench.payloads import BANNER_REQUEST
from bench.processes import (
    Pinning,
    core_ticks,
    cpu_seconds,
    free_port,
    other_load,
    pinned_core,
    pinning,
    spawn,
    wait_for_port,
)
from bench.section import Options, Report, Table, progress
from bench.serving import _background_load
from exchange.bidders.h2_transport import h2_transport

__all__ = ["ENGINES", "main", "run"]

DEADLINE_S: Final = 0.050
"""Per-call deadline, enforced with ``asyncio.timeout`` around the whole call."""
HANG_TARGET_MS: Final = DEADLINE_S * 1e3 + 5.0
TARGET_US_PER_CALL: Final = 150.0
TARGET_VS_AIOHTTP: Final = 2.5
SHAPES: Final = ((10, 1), (10, 8), (50, 1), (50, 8))
"""(bidders per auction N, auctions in flight K)."""
HANG_SHAPES: Final = ((10, 1), (10, 8))
"""(N, K) of the runs where one of the N bidders never answers."""
PEER_PORTS: Final = 50
PEER_PROCESSES: Final = 2
_PATH: Final = "/openrtb2/bid"
_PEER_BOUND_SHARE: Final = 0.90
_OTHER_LOAD_WARNING: Final = 0.10


@dataclass(frozen=True, slots=True)
class Engine:
    """One way of calling DSPs, and the peer protocols it is measured against."""

    key: str
    label: str
    protocols: tuple[str, ...]
    needs: str | None = None
    """An optional module the engine needs; without it the engine is skipped, saying so."""


ENGINES: Final = (
    Engine("httpx-h2-shared", "httpx HTTP/2, one shared client", ("h2c", "h2tls"), "h2"),
    Engine("httpx-h2-perhost", "httpx HTTP/2, one client per DSP", ("h2c", "h2tls"), "h2"),
    Engine("h2engine", "httpx + h2_transport (lean HTTP/2)", ("h2c", "h2tls"), "hpack"),
    Engine("h2engine-direct", "h2_transport called without AsyncClient", ("h2c",), "hpack"),
    Engine(
        "h2engine-direct-4",
        "h2_transport without AsyncClient, 4 connections per origin",
        ("h2c",),
        "hpack",
    ),
    Engine(
        "curl-cffi", "curl_cffi AsyncSession (libcurl + nghttp2)", ("h2c", "h2tls"), "curl_cffi"
    ),
    Engine(
        "httpx-h2-transport", "httpx HTTP/2 transport per DSP, no client", ("h2c", "h2tls"), "h2"
    ),
    Engine("httpx-h1-shared", "httpx HTTP/1.1, one shared client", ("http1",)),
    Engine("httpx-h1-perhost", "httpx HTTP/1.1, one client per DSP", ("http1",)),
    Engine("httpx-h1-transport", "httpx HTTP/1.1 transport per DSP, no client", ("http1",)),
    Engine("aiohttp-h1", "aiohttp HTTP/1.1 (reference)", ("http1",), "aiohttp"),
)


# == the client process ========================================================================


@dataclass(slots=True)
class ShapeResult:
    """One measured run of one client configuration at one (N, K)."""

    engine: str
    protocol: str
    bidders: int
    in_flight: int
    hanging: bool
    window_s: float
    auctions: int
    calls: int
    ok: int
    timeouts: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float
    peer_cpu_s: float
    client_core_other: float | None
    versions: list[str] = field(default_factory=list)

    @property
    def auctions_per_s(self) -> float:
        return self.auctions / self.window_s if self.window_s else 0.0

    @property
    def us_per_call(self) -> float | None:
        return self.client_cpu_s / self.calls * 1e6 if self.calls else None

    @property
    def peer_share(self) -> float:
        return self.peer_cpu_s / self.window_s if self.window_s else 0.0

    @property
    def failures(self) -> int:
        return self.timeouts + sum(self.errors.values())


Call = Callable[[int], Awaitable[str]]
"""Call bidder ``i`` once; return the HTTP version used; raise on any failure."""


async def _engine_calls(
    engine: str, protocol: str, urls: Sequence[str], ca_file: str | None, stack: AsyncExitStack
) -> Call:
    """The call function of ``engine``, its clients registered on ``stack`` for closing."""
    body = BANNER_REQUEST
    header_pairs = {"content-type": "application/json", "x-openrtb-version": "2.6"}
    headers = httpx.Headers(header_pairs)
    parsed = [httpx.URL(url) for url in urls]
    timeout = httpx.Timeout(1.0)
    n = len(urls)

    def context() -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=ca_file) if ca_file else True

    def check(response: httpx.Response) -> str:
        if response.status_code != 200 or not response.content:
            raise RuntimeError(f"status {response.status_code}")
        return response.http_version

    if engine in ("httpx-h2-shared", "httpx-h1-shared"):
        http2 = engine == "httpx-h2-shared"
        limits = httpx.Limits(max_connections=4 * n * 8, max_keepalive_connections=4 * n * 8)
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                http2=http2,
                http1=not (http2 and protocol == "h2c"),
                verify=context(),
                limits=limits,
                timeout=timeout,
            )
        )

        async def shared(i: int) -> str:
            request = httpx.Request("POST", parsed[i], headers=headers, content=body)
            return check(await client.send(request))

        return shared
    if engine in ("httpx-h2-perhost", "httpx-h1-perhost"):
        http2 = engine == "httpx-h2-perhost"
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    http2=http2,
                    http1=not (http2 and protocol == "h2c"),
                    verify=context(),
                    limits=limits,
                    timeout=timeout,
                )
            )
            for _ in urls
        ]

        async def per_host(i: int) -> str:
            request = httpx.Request("POST", parsed[i], headers=headers, content=body)
            return check(await clients[i].send(request))

        return per_host
    if engine in ("httpx-h2-transport", "httpx-h1-transport"):
        # What exchange/bidders/transport.py does: one pool per origin, called without a client.
        http2 = engine == "httpx-h2-transport"
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        pools = [
            httpx.AsyncHTTPTransport(
                http2=http2,
                http1=not (http2 and protocol == "h2c"),
                verify=context(),
                limits=limits,
            )
            for _ in urls
        ]
        for pool in pools:
            stack.push_async_callback(pool.aclose)
        pool_extensions = {"timeout": timeout.as_dict()}

        async def pool_call(i: int) -> str:
            request = httpx.Request(
                "POST", parsed[i], headers=headers, content=body, extensions=pool_extensions
            )
            response = await pools[i].handle_async_request(request)
            await response.aread()
            return check(response)

        return pool_call
    if engine == "h2engine":
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=h2_transport(verify=context()), timeout=timeout)
        )

        async def engine_call(i: int) -> str:
            request = httpx.Request("POST", parsed[i], headers=headers, content=body)
            return check(await client.send(request))

        return engine_call
    if engine in ("h2engine-direct", "h2engine-direct-4"):
        per_origin = 4 if engine == "h2engine-direct-4" else 1
        transport = h2_transport(verify=context(), connections_per_origin=per_origin)
        stack.push_async_callback(transport.aclose)
        extensions = {"timeout": timeout.as_dict()}

        async def direct(i: int) -> str:
            request = httpx.Request(
                "POST", parsed[i], headers=headers, content=body, extensions=extensions
            )
            response = await transport.handle_async_request(request)
            await response.aread()
            return check(response)

        return direct
    if engine == "curl-cffi":
        return await _curl_calls(protocol, urls, ca_file, stack)
    if engine == "aiohttp-h1":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60)
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))

        async def reference(i: int) -> str:
            async with session.post(urls[i], data=body, headers=header_pairs) as response:
                content = await response.read()
                if response.status != 200 or not content:
                    raise RuntimeError(f"status {response.status}")
                version = response.version
                return f"HTTP/{version.major}.{version.minor}" if version else "HTTP/?"

        return reference
    raise ValueError(f"unknown engine {engine!r}")


async def _curl_calls(
    protocol: str, urls: Sequence[str], ca_file: str | None, stack: AsyncExitStack
) -> Call:
    """libcurl through curl_cffi: one AsyncSession (one multi handle, HTTP/2 multiplexed per
    origin by libcurl), prior knowledge for h2c, ALPN h2 over TLS; handles for 512 calls in
    flight (its default of 10 would queue the fan-out)."""
    from curl_cffi import AsyncSession, CurlHttpVersion

    version = CurlHttpVersion.V2_PRIOR_KNOWLEDGE if protocol == "h2c" else CurlHttpVersion.V2_0
    session = await stack.enter_async_context(
        AsyncSession(http_version=version, verify=ca_file or True, max_clients=512)
    )
    body = BANNER_REQUEST
    headers = {"content-type": "application/json", "x-openrtb-version": "2.6"}
    names = {int(CurlHttpVersion.V1_1): "HTTP/1.1", int(CurlHttpVersion.V2_0): "HTTP/2"}

    async def curl(i: int) -> str:
        response = await session.post(urls[i], data=body, headers=headers, timeout=1.0)
        if response.status_code != 200 or not response.content:
            raise RuntimeError(f"status {response.status_code}")
        return names.get(int(response.http_version), f"curl {response.http_version}")

    return curl


async def _measure(
    call: Call,
    *,
    engine: str,
    protocol: str,
    bidders: int,
    in_flight: int,
    hanging: bool,
    warmup_s: float,
    duration_s: float,
    peer_pids: Sequence[int],
) -> ShapeResult:
    """K closed-loop auctions in flight; figures over the measured window only."""
    measuring = False
    stop = False
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    versions: set[str] = set()

    async def one_call(i: int) -> str:
        try:
            async with asyncio.timeout(DEADLINE_S):
                versions.add(await call(i))
            return "ok"
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # every failure is counted, by type
            return type(exc).__name__

    async def auctions() -> None:
        while not stop:
            started = time.perf_counter()
            results = await asyncio.gather(*[one_call(i) for i in range(bidders)])
            if measuring:
                latencies.append(time.perf_counter() - started)
                outcomes.update(results)

    workers = [asyncio.create_task(auctions()) for _ in range(in_flight)]
    try:
        await asyncio.sleep(warmup_s)
        ticks_before = core_ticks()
        peers_before = sum(cpu_seconds(pid) for pid in peer_pids)
        cpu_before = time.process_time()
        started = time.perf_counter()
        measuring = True
        await asyncio.sleep(duration_s)
        measuring = False
        window_s = time.perf_counter() - started
        client_cpu_s = time.process_time() - cpu_before
        peer_cpu_s = sum(cpu_seconds(pid) for pid in peer_pids) - peers_before
        ticks_after = core_ticks()
    finally:
        stop = True
        done, pending = await asyncio.wait(workers, timeout=10.0)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
    latencies.sort()
    ok = outcomes.pop("ok", 0)
    timeouts = outcomes.pop("timeout", 0)
    return ShapeResult(
        engine=engine,
        protocol=protocol,
        bidders=bidders,
        in_flight=in_flight,
        hanging=hanging,
        window_s=window_s,
        auctions=len(latencies),
        calls=len(latencies) * bidders,
        ok=ok,
        timeouts=timeouts,
        errors=dict(outcomes),
        p50_ms=_percentile(latencies, 0.50) * 1e3,
        p99_ms=_percentile(latencies, 0.99) * 1e3,
        max_ms=(latencies[-1] if latencies else 0.0) * 1e3,
        client_cpu_s=client_cpu_s,
        peer_cpu_s=peer_cpu_s,
        client_core_other=other_load(
            pinned_core(os.getpid()), ticks_before, ticks_after, client_cpu_s
        ),
        versions=sorted(versions),
    )


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _client(args: argparse.Namespace) -> list[ShapeResult]:
    urls = [f"{args.scheme}://127.0.0.1:{port}{_PATH}" for port in args.ports]
    hang_url = f"{args.scheme}://127.0.0.1:{args.hang_port}{_PATH}"
    results = []
    for bidders, in_flight, hanging in args.shapes:
        targets = urls[:bidders]
        if hanging:
            targets = [hang_url, *targets[1:]]
        async with AsyncExitStack() as stack:
            call = await _engine_calls(args.engine, args.protocol, targets, args.ca, stack)
            results.append(
                await _measure(
                    call,
                    engine=args.engine,
                    protocol=args.protocol,
                    bidders=bidders,
                    in_flight=in_flight,
                    hanging=hanging,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                    peer_pids=args.peer_pids,
                )
            )
    return results


def _shapes(text: str) -> list[tuple[int, int, bool]]:
    """``10x1,50x8,10x8h`` → [(10, 1, False), (50, 8, False), (10, 8, True)]."""
    shapes = []
    for part in text.split(","):
        hanging = part.endswith("h")
        n, _, k = part.removesuffix("h").partition("x")
        shapes.append((int(n), int(k), hanging))
    return shapes


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    """Client process: run the shapes of one engine, print one JSON line per shape."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__,
    )
    parser.add_argument("--engine", choices=[e.key for e in ENGINES], required=True)
    parser.add_argument("--protocol", choices=("http1", "h2c", "h2tls"), required=True)
    parser.add_argument("--ports", type=_ints, required=True, help="answering peer ports")
    parser.add_argument("--hang-port", type=int, required=True, help="a peer that never answers")
    parser.add_argument(
        "--shapes", type=_shapes, default=_shapes("10x1,10x8,50x1,50x8,10x1h,10x8h")
    )
    parser.add_argument("--ca", help="CA certificate file for h2tls peers")
    parser.add_argument("--peer-pids", type=_ints, default=[], help="peer processes (CPU)")
    parser.add_argument("--duration", type=float, default=2.0, help="measured s per shape")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured s per shape")
    args = parser.parse_args(argv)
    args.scheme = "https" if args.protocol == "h2tls" else "http"
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    for result in asyncio.run(_client(args)):
        print(json.dumps(asdict(result)), flush=True)
    return 0


# == the section (orchestrator) ================================================================


@dataclass(frozen=True, slots=True)
class _Peers:
    ports: dict[str, list[int]]
    hang_port: dict[str, int]
    pids: dict[str, list[int]]
    ca_file: str | None


def run(options: Options) -> Report:
    """Start the peers, run every engine in its own pinned client process, report."""
    pins = pinning()
    duration_s = max(1.0, options.duration_s / 4)
    warmup_s = max(0.3, options.warmup_s / 2)
    engines, skipped = _available_engines()
    protocols = sorted({p for e in engines for p in e.protocols})
    trust = importlib.util.find_spec("trustme") is not None
    if not trust and "h2tls" in protocols:
        skipped.append("TLS h2 runs: trustme is not installed (pip install trustme)")
        protocols.remove("h2tls")
    runs = sum(1 for e in engines for p in e.protocols if p in protocols)
    shapes = len(SHAPES) + len(HANG_SHAPES)
    progress(
        f"fanout: {runs} client configurations × {shapes} runs of {warmup_s:g}+{duration_s:g} s, "
        f"about {runs * (shapes * (warmup_s + duration_s) + 2):.0f} s"
    )
    progress(pins.description)
    results: list[ShapeResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        work = Path(tmp)
        with _peers(pins, protocols, work) as peers:
            for engine in engines:
                for protocol in engine.protocols:
                    if protocol not in protocols:
                        continue
                    progress(f"{engine.label} over {protocol}")
                    results += _client_run(engine, protocol, peers, pins, duration_s, warmup_s)
    return _report(pins, results, skipped, duration_s, warmup_s)


def _available_engines() -> tuple[list[Engine], list[str]]:
    engines, skipped = [], []
    for engine in ENGINES:
        if engine.needs and importlib.util.find_spec(engine.needs) is None:
            skipped.append(
                f"{engine.label}: module {engine.needs!r} is not installed "
                f"(pip install -e '.[bench]')"
            )
        else:
            engines.append(engine)
    return engines, skipped


@contextmanager
def _peers(pins: Pinning, protocols: Sequence[str], work: Path) -> Iterator[_Peers]:
    """Peer processes for every protocol, pinned to the load core, stopped on exit."""
    ca_file = None
    cert_file = work / "peer.pem"
    if "h2tls" in protocols:
        import trustme

        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1", "localhost")
        issued.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        ca_file = str(work / "ca.pem")
        authority.cert_pem.write_to_path(ca_file)
    ports: dict[str, list[int]] = {}
    hang_port: dict[str, int] = {}
    pids: dict[str, list[int]] = {}
    with contextlib.ExitStack() as stack:
        for protocol in protocols:
            all_ports = _distinct_ports(PEER_PORTS + 1)
            ports[protocol], hang_port[protocol] = all_ports[:-1], all_ports[-1]
            pids[protocol] = []
            for index in range(PEER_PROCESSES):
                mine = ports[protocol][index::PEER_PROCESSES]
                argv = [
                    *pins.loadgen,
                    sys.executable,
                    "-m",
                    "bench.dsp_peer",
                    "--protocol",
                    protocol,
                    "--ports",
                    ",".join(map(str, mine)),
                ]
                if index == 0:
                    argv += ["--hang-ports", str(hang_port[protocol])]
                if protocol == "h2tls":
                    argv += ["--cert", str(cert_file), "--key", str(cert_file)]
                log = stack.enter_context((work / f"peer-{protocol}-{index}.log").open("wb"))
                process = stack.enter_context(spawn(argv, stdout=log, stderr=log))
                pids[protocol].append(process.pid)
                for port in mine + ([hang_port[protocol]] if index == 0 else []):
                    wait_for_port(port, process)
            progress(f"{protocol} peers: {PEER_PROCESSES} processes, pids {pids[protocol]}")
        yield _Peers(ports, hang_port, pids, ca_file)


def _distinct_ports(count: int) -> list[int]:
    found: set[int] = set()
    while len(found) < count:
        found.add(free_port())
    return sorted(found)


def _client_run(
    engine: Engine,
    protocol: str,
    peers: _Peers,
    pins: Pinning,
    duration_s: float,
    warmup_s: float,
) -> list[ShapeResult]:
    shapes = [f"{n}x{k}" for n, k in SHAPES] + [f"{n}x{k}h" for n, k in HANG_SHAPES]
    argv = [
        *pins.server,
        sys.executable,
        "-m",
        "bench.fanout",
        "--engine",
        engine.key,
        "--protocol",
        protocol,
        "--ports",
        ",".join(map(str, peers.ports[protocol])),
        "--hang-port",
        str(peers.hang_port[protocol]),
        "--shapes",
        ",".join(shapes),
        "--peer-pids",
        ",".join(map(str, peers.pids[protocol])),
        "--duration",
        str(duration_s),
        "--warmup",
        str(warmup_s),
    ]
    if peers.ca_file:
        argv += ["--ca", peers.ca_file]
    limit_s = len(shapes) * (duration_s + warmup_s + 12.0) + 30.0
    with spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            out, err = process.communicate(timeout=limit_s)
        except subprocess.TimeoutExpired:
            progress(f"{engine.key}/{protocol}: no result within {limit_s:.0f} s, stopped")
            return []
    if process.returncode != 0:
        progress(f"{engine.key}/{protocol} failed ({process.returncode}):\n{err.decode()[-4000:]}")
        return []
    return [ShapeResult(**json.loads(line)) for line in out.decode().splitlines() if line]


# -- report -----------------------------------------------------------------------------------


def _label(key: str) -> str:
    return next(e.label for e in ENGINES if e.key == key)


def _errors(result: ShapeResult) -> str:
    if not result.failures:
        return "0"
    parts = [f"{result.timeouts} timeout"] if result.timeouts else []
    parts += [f"{count} {name}" for name, count in sorted(result.errors.items())]
    return ", ".join(parts)


def _note(result: ShapeResult) -> str:
    notes = []
    if result.peer_share >= _PEER_BOUND_SHARE:
        notes.append("peer-bound?")
    if result.client_core_other is not None and result.client_core_other > _OTHER_LOAD_WARNING:
        notes.append("other load on core 0")
    if not result.hanging and result.calls and result.failures > 0.01 * result.calls:
        notes.append("FAILING")
    return ", ".join(notes)


def _report(
    pins: Pinning,
    results: list[ShapeResult],
    skipped: list[str],
    duration_s: float,
    warmup_s: float,
) -> Report:
    context = [
        _background_load(),
        f"CPU pinning: {pins.description} (client = core 0, peers = core 1)",
        f"client: one process per configuration; K auctions in flight, each one fan-out of "
        f"{len(BANNER_REQUEST):,} B pre-encoded to N bidders awaited together, "
        f"{DEADLINE_S * 1e3:.0f} ms asyncio.timeout per call; {warmup_s:g} s warm-up + "
        f"{duration_s:g} s measured per run",
        f"peers: bench.dsp_peer, {PEER_PROCESSES} processes per protocol, "
        f"{PEER_PORTS} ports + 1 hanging; ~600 B bid response",
        f"versions: {_versions()}",
    ]
    rows = []
    for r in results:
        if r.hanging:
            continue
        rows.append(
            [
                _label(r.engine),
                r.protocol,
                f"{r.bidders}×{r.in_flight}",
                f"{r.auctions_per_s:,.0f}",
                f"{r.ok / r.window_s:,.0f}" if r.window_s else "–",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                "–" if r.us_per_call is None else f"{r.us_per_call:.0f}",
                _errors(r),
                f"{r.peer_share:.0%}",
                "/".join(r.versions) or "–",
                _note(r),
            ]
        )
    table = Table(
        "Fan-out per configuration (N bidders × K auctions in flight)",
        [
            "client",
            "peer",
            "N×K",
            "auctions/s",
            "ok calls/s",
            "p50 ms",
            "p99 ms",
            "CPU µs/call",
            "failures",
            "peer CPU",
            "HTTP",
            "note",
        ],
        rows,
    )
    hang_rows = []
    for r in results:
        if not r.hanging:
            continue
        met = "met" if r.p99_ms <= HANG_TARGET_MS else "MISSED"
        hang_rows.append(
            [
                _label(r.engine),
                r.protocol,
                f"{r.bidders}×{r.in_flight}",
                f"{r.auctions_per_s:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.2f}",
                f"{r.timeouts}/{r.auctions}",
                str(sum(r.errors.values())),
                met,
            ]
        )
    hang_table = Table(
        f"One hanging bidder among {HANG_SHAPES[0][0]} (target p99 ≤ {HANG_TARGET_MS:g} ms)",
        [
            "client",
            "peer",
            "N×K",
            "auctions/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "timeouts/auctions",
            "other failures",
            "target",
        ],
        hang_rows,
    )
    return Report("fanout", context, [table, hang_table], _verdicts(results, skipped))


def _versions() -> str:
    import importlib.metadata

    found = []
    for name in ("httpx", "httpcore", "h2", "hpack", "aiohttp", "uvloop", "curl_cffi"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    if importlib.util.find_spec("curl_cffi") is not None:
        from curl_cffi import Curl

        parts = Curl().version().decode().split()
        found += [p for p in parts if p.startswith(("libcurl/", "nghttp2/", "BoringSSL"))]
    return ", ".join(found)


def _healthy(result: ShapeResult) -> bool:
    return result.calls > 0 and result.failures <= 0.01 * result.calls


def _verdicts(results: list[ShapeResult], skipped: list[str]) -> list[str]:
    """CPU per call against the targets (healthy runs only), and the 50×8 state per client."""
    lines = [f"skipped: {reason}" for reason in skipped]
    measured = [r for r in results if not r.hanging and r.us_per_call is not None]
    reference = {
        (r.bidders, r.in_flight): r.us_per_call
        for r in measured
        if r.engine == "aiohttp-h1" and _healthy(r)
    }
    by_config: dict[tuple[str, str], list[ShapeResult]] = {}
    for r in measured:
        by_config.setdefault((r.engine, r.protocol), []).append(r)
    for (engine, protocol), group in by_config.items():
        healthy = [r for r in group if _healthy(r)]
        if "h2" not in protocol or not healthy:
            continue
        costs = [r.us_per_call or 0.0 for r in healthy]
        ratios = [
            (r.us_per_call or 0.0) / ref
            for r in healthy
            if (ref := reference.get((r.bidders, r.in_flight)))
        ]
        ratio = f"; {statistics.median(ratios):.1f}× aiohttp (median)" if ratios else ""
        met = statistics.median(costs) <= TARGET_US_PER_CALL and (
            not ratios or statistics.median(ratios) <= TARGET_VS_AIOHTTP
        )
        lines.append(
            f"{_label(engine)} over {protocol}: CPU per call median {statistics.median(costs):.0f} "
            f"µs, range {min(costs):.0f}–{max(costs):.0f} over {len(healthy)} healthy runs{ratio} "
            f"(target ≤ {TARGET_US_PER_CALL:.0f} µs and ≤ {TARGET_VS_AIOHTTP}× aiohttp: "
            f"{'met' if met else 'MISSED'})"
        )
    base = {(r.engine, r.protocol): r for r in measured if (r.bidders, r.in_flight) == (10, 8)}
    for r in measured:
        if (r.bidders, r.in_flight) != (50, 8):
            continue
        reference_run = base.get((r.engine, r.protocol))
        goodput = r.ok / r.window_s if r.window_s else 0.0
        base_goodput = (
            reference_run.ok / reference_run.window_s
            if reference_run and reference_run.window_s
            else 0.0
        )
        if _healthy(r):
            state = "works"
        elif base_goodput and goodput >= 0.5 * base_goodput:
            state = "overloaded (deadline misses, throughput holds)"
        else:
            state = "COLLAPSES"
        lines.append(
            f"50×8 {_label(r.engine)} over {r.protocol}: {state}: {goodput:,.0f} ok calls/s "
            f"(10×8: {base_goodput:,.0f}), {r.failures} of {r.calls} calls failed"
        )
    if any(r.peer_share >= _PEER_BOUND_SHARE for r in results):
        lines.append(
            "peer-bound?: the peers used ≥ 90% of core 1 in some runs; there auctions/s is a "
            "floor, CPU µs per call stays valid"
        )
    if any(_note(r).startswith("other load") or ", other load" in _note(r) for r in results):
        lines.append(
            "other load on core 0: other processes took > 10% of the client's core in some "
            "runs; rerun on a quiet machine before trusting small differences"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
