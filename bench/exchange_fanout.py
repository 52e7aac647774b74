"""Exchange fan-out section: the whole exchange (``rtb serve``) calling N external DSPs.

Where the fan-out section measures HTTP clients alone, this one serves the real exchange
and sends it real auctions: one uvicorn worker (``rtb serve``) pinned to core 0, its bidders
file holding only external DSPs (no routers), each DSP a distinct loopback ``bench.dsp_peer``
port speaking h2c, answering every call with the same ~600 B bid (``timeout_ms`` 50). The
peers (two processes) and the load generator (``bench.loadgen``) share core 1.

Per N (10, 50 bidders) and HTTP/2 engine (``RTB_DSP_HTTP2_ENGINE`` = lean, httpcore), side
by side: a closed loop (saturation auctions/s and the exchange's CPU per auction from
``/proc``), open loops at fixed rates and at 70% of that saturation (p50/p99 from each
request's due time), and the bidder calls' outcomes read from the exchange's ``/metrics``.
The parse-only reference app (``bench.reference_apps``) is measured in the same run, so
that CPU per bidder call = (exchange CPU per auction − parse-only CPU per request) ÷ N.
Then N = 10 with one peer that never answers: p99 against the 50 ms deadline + 5 ms.
"""

import argparse
import asyncio
import contextlib
import functools
import http.client
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from bench.dsp_peer import (
    _DATA,
    _END_HEADERS,
    _END_STREAM,
    _FRAME,
    _H2,
    _HEADERS,
    _PREFACE,
    _RESPONSE_BLOCK,
    BID_RESPONSE,
    _frame,
    _ports,
)
from bench.fanout import _distinct_ports
from bench.loadgen import LoadResult
from bench.payloads import AUCTION_PATH, BANNER_REQUEST
from bench.processes import Pinning, pinning, serve_on_free_port, spawn, wait_for_port
from bench.section import Options, Report, Table, progress
from bench.serving import APPS, _background_load, _loadgen, _served

__all__ = ["main", "run"]

BIDDER_COUNTS: Final = (10, 50)
HTTP2_ENGINES: Final = ("lean", "httpcore")
FIXED_RATES: Final = (25.0, 100.0, 300.0)
"""Open-loop auctions/s run for every N and engine, whatever its saturation, ascending."""
HANG_RATE: Final = 100.0
"""Fixed rate of the hanging runs (they also run at the rate of the 70% run)."""
OPEN_LOOP_LOAD: Final = 0.70
HANG_BIDDERS: Final = 10
DSP_TIMEOUT_MS: Final = 50
HANG_TARGET_MS: Final = DSP_TIMEOUT_MS + 5.0
"""p99 target with a hanging bidder, before the exchange's own time is added."""
TARGET_US_PER_CALL: Final = 150.0
CLOSED_CONNECTIONS: Final = 8
"""Auctions in flight in the closed loop: "several", each fanning out to N bidders."""
_DSP_PATH: Final = "/openrtb2/bid"
PEER_PORTS: Final = max(BIDDER_COUNTS)
PEER_PROCESSES: Final = 2
_NO_BREAKER: Final = 1_000_000
"""Breaker threshold of the hanging runs: every auction waits for the hanging bidder."""
_CORE_BUSY_WARNING: Final = 0.90
_OTHER_LOAD_WARNING: Final = 0.10


@dataclass(frozen=True, slots=True)
class _Case:
    """One exchange configuration: how many bidders, which engine, whether one hangs."""

    bidders: int
    engine: str
    hanging: bool = False

    @property
    def label(self) -> str:
        hang = ", 1 hangs" if self.hanging else ""
        return f"N={self.bidders}{hang}"


@dataclass(frozen=True, slots=True)
class _Run:
    """One load run against one configuration."""

    case: _Case
    role: str
    """``saturation`` (closed loop), ``70%`` (open loop at 70% of it) or ``fixed`` (open)."""
    result: LoadResult
    outcomes: dict[str, int]
    """Bidder calls over the run, warm-up included, from ``/metrics``: by result (bid, nobid,
    timeout) and, for failed ones, by error kind (transport, bad_response, circuit_open…)."""
    auctions: int
    """Auctions over the same span (``rtb_auction_requests_total``)."""

    @property
    def closed(self) -> bool:
        return self.result.target_rate is None

    @property
    def core1_share(self) -> float | None:
        """Share of core 1 busy over the window: the generator plus everything else (peers)."""
        other = self.result.client_core_other
        return None if other is None else self.result.client_cpu_share + other

    @property
    def calls_made(self) -> int:
        """Calls actually sent: not those an open breaker or the QPS cap skipped."""
        skipped = self.outcomes.get("circuit_open", 0) + self.outcomes.get("throttled", 0)
        return sum(self.outcomes.values()) - skipped

    @property
    def healthy(self) -> bool:
        """Every auction called all N bidders, ≥ 99% of calls bid, every answer a 2xx."""
        r = self.result
        return (
            self.bid_share >= 0.99
            and self.calls_made >= 0.99 * self.auctions * self.case.bidders
            and not r.non_2xx
            and not r.errors
        )

    @property
    def bid_share(self) -> float:
        total = sum(self.outcomes.values())
        return self.outcomes.get("bid", 0) / total if total else 0.0


@dataclass(frozen=True, slots=True)
class _Figures:
    case: _Case
    runs: tuple[_Run, ...]

    def role(self, role: str) -> _Run | None:
        return next((r for r in self.runs if r.role == role), None)


# -- the DSP peers: bench.dsp_peer's h2c server, answering with the request's id ---------------

_ID_AT: Final = BID_RESPONSE.index(b'"id":"') + len(b'"id":"')
_ID_END: Final = BID_RESPONSE.index(b'"', _ID_AT)


def _answer(request_id: bytes) -> bytes:
    """``BID_RESPONSE`` for ``request_id``, padded with JSON whitespace to the same length.

    The exchange sends each bidder its own auction id and refuses an answer with another id;
    ``dsp_peer`` answers with a fixed one (the fan-out section's clients never check it).
    Same length, so the peer's pre-encoded header block (content-length) stays right.
    """
    room = _ID_END - _ID_AT
    if not request_id or len(request_id) > room:
        return BID_RESPONSE
    pad = b" " * (room - len(request_id))
    return BID_RESPONSE[:_ID_AT] + request_id + b'"' + pad + BID_RESPONSE[_ID_END + 1 :]


class _EchoH2(_H2):
    """``dsp_peer``'s HTTP/2 server, plus: the top-level ``id`` of each request body is noted
    (a second, light frame scan) and echoed in the answer, so the exchange accepts the bid."""

    def __init__(self, hang: bool) -> None:
        super().__init__(hang)
        self._scan = b""
        self._scan_preface = False
        self._ids: dict[int, bytes] = {}

    def data_received(self, data: bytes) -> None:
        self._note_ids(data)
        super().data_received(data)

    def _note_ids(self, data: bytes) -> None:
        buf = self._scan + data if self._scan else data
        pos = 0
        if not self._scan_preface:
            if len(buf) < len(_PREFACE):
                self._scan = buf
                return
            self._scan_preface = True
            pos = len(_PREFACE)
        size = len(buf)
        while size - pos >= 9:
            high, low, ftype, _flags, stream_id = _FRAME.unpack_from(buf, pos)
            end = pos + 9 + ((high << 8) | low)
            if end > size:
                break
            if ftype == _DATA:
                stream_id &= 0x7FFFFFFF
                if stream_id not in self._ids:
                    at = buf.find(b'"id":"', pos + 9, end)
                    close = buf.find(b'"', at + 6, end) if at >= 0 else -1
                    if close >= 0:
                        self._ids[stream_id] = buf[at + 6 : close]
            pos = end
        self._scan = buf[pos:]

    def _respond(self, stream_id: int, out: list[bytes]) -> None:
        if self._hang:
            self._ids.pop(stream_id, None)
        super()._respond(stream_id, out)

    def _flush(self, out: list[bytes]) -> None:
        """``_H2._flush`` with each stream's own answer."""
        need = len(BID_RESPONSE)
        for stream_id in list(self._waiting):
            window = self._stream_windows.get(stream_id)
            if window is None:
                del self._waiting[stream_id]
                self._ids.pop(stream_id, None)
                continue
            if self._send_window < need or window < need:
                if self._send_window < need:
                    return
                continue
            self._send_window -= need
            del self._waiting[stream_id]
            del self._stream_windows[stream_id]
            body = _answer(self._ids.pop(stream_id, b""))
            out.append(_frame(_HEADERS, _END_HEADERS, stream_id, _RESPONSE_BLOCK))
            out.append(_frame(_DATA, _END_STREAM, stream_id, body))


async def _serve_peers(ports: Sequence[int], hang_ports: Sequence[int]) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(
            functools.partial(_EchoH2, port in hang_ports),
            "127.0.0.1",
            port,
            backlog=1024,
            reuse_address=True,
        )
        for port in [*ports, *hang_ports]
    ]
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    print("ready", flush=True)
    await stop
    for server in servers:
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The peer process: ``python -m bench.exchange_fanout --ports P,P [--hang-ports P]``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.exchange_fanout",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--ports", type=_ports, required=True, help="comma-separated ports")
    parser.add_argument("--hang-ports", type=_ports, default=[], help="ports that never answer")
    args = parser.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve_peers(args.ports, args.hang_ports))
    return 0


@dataclass(frozen=True, slots=True)
class _Peers:
    ports: list[int]
    hang_port: int
    pids: list[int]


@contextmanager
def _peers(pins: Pinning, work: Path) -> Iterator[_Peers]:
    """The echoing h2c peers on the load generator's core, stopped on exit."""
    all_ports = _distinct_ports(PEER_PORTS + 1)
    ports, hang_port = all_ports[:-1], all_ports[-1]
    pids: list[int] = []
    with contextlib.ExitStack() as stack:
        for index in range(PEER_PROCESSES):
            mine = ports[index::PEER_PROCESSES]
            argv = [*pins.loadgen, sys.executable, "-m", "bench.exchange_fanout"]
            argv += ["--ports", ",".join(map(str, mine))]
            if index == 0:
                argv += ["--hang-ports", str(hang_port)]
            log = stack.enter_context((work / f"peer-{index}.log").open("wb"))
            process = stack.enter_context(spawn(argv, stdout=log, stderr=log))
            pids.append(process.pid)
            for port in mine + ([hang_port] if index == 0 else []):
                wait_for_port(port, process)
        progress(f"h2c peers: {PEER_PROCESSES} processes, pids {pids}")
        yield _Peers(ports, hang_port, pids)


# -- the section ---------------------------------------------------------------------------------


def run(options: Options) -> Report:
    """Start the peers, measure the parse-only app, then every exchange configuration."""
    pins = pinning()
    duration_s = max(2.0, options.duration_s / 2)
    timed = replace(options, duration_s=duration_s)
    per_run_s = options.warmup_s + duration_s + 1.0
    cases = len(BIDDER_COUNTS) * len(HTTP2_ENGINES)
    runs = 1 + cases * (2 + len(FIXED_RATES)) + len(HTTP2_ENGINES) * 2
    starts = 1 + cases * 3 + len(HTTP2_ENGINES)
    estimate_s = runs * per_run_s + starts * 2.5
    progress(f"exchange-fanout: {runs} runs of {per_run_s:.0f} s, about {estimate_s:.0f} s")
    progress(pins.description)
    context = _context(pins, timed)
    context.append(_background_load())
    figures: list[_Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-exchange-fanout-") as tmp:
        work = Path(tmp)
        body_file = work / "request.json"
        body_file.write_bytes(BANNER_REQUEST)
        with _peers(pins, work) as peers:
            parse = _parse_only(pins, work, body_file, timed)
            for bidders in BIDDER_COUNTS:
                for engine in HTTP2_ENGINES:
                    case = _Case(bidders, engine)
                    figures.append(_measure(case, peers, pins, work, body_file, timed))
            for engine in HTTP2_ENGINES:
                base = next(f for f in figures if f.case == _Case(HANG_BIDDERS, engine))
                case = _Case(HANG_BIDDERS, engine, hanging=True)
                figures.append(_measure_hanging(case, base, peers, pins, work, body_file, timed))
    return _report(context, parse, figures)


# -- measuring ----------------------------------------------------------------------------------


def _parse_only(pins: Pinning, work: Path, body_file: Path, options: Options) -> LoadResult:
    """Closed loop against the parse-only app: its CPU per request is the exchange's floor."""
    app = next(a for a in APPS if a.key == "parse")
    with _served(app, pins, work) as (pid, port):
        progress(f"{app.label}: closed loop, {CLOSED_CONNECTIONS} connections")
        return _loadgen(
            pins, port, body_file, pid, replace(options, connections=CLOSED_CONNECTIONS), None
        )


def _measure(
    case: _Case, peers: _Peers, pins: Pinning, work: Path, body_file: Path, options: Options
) -> _Figures:
    """Three fresh exchange processes: the closed loop, the open loop at 70% of it, then the
    fixed rates in ascending order. Fresh, because an overloaded run leaves breakers open
    (and httpcore's connections broken) for the runs after it."""
    runs: list[_Run] = []
    closed = replace(options, connections=CLOSED_CONNECTIONS)
    with _exchange(case, peers, pins, work) as (pid, port):
        progress(f"{case.label} {case.engine}: closed loop, {CLOSED_CONNECTIONS} connections")
        saturation = _timed(case, "saturation", pins, port, pid, body_file, closed, None)
        runs.append(saturation)
    rate = saturation.result.rps * OPEN_LOOP_LOAD
    with _exchange(case, peers, pins, work) as (pid, port):
        progress(f"{case.label} {case.engine}: open loop at {rate:,.0f} auctions/s (70%)")
        runs.append(_timed(case, "70%", pins, port, pid, body_file, _open(options, rate), rate))
    with _exchange(case, peers, pins, work) as (pid, port):
        for rate in FIXED_RATES:
            progress(f"{case.label} {case.engine}: open loop at {rate:,.0f} auctions/s")
            opened = _open(options, rate)
            runs.append(_timed(case, "fixed", pins, port, pid, body_file, opened, rate))
    return _Figures(case, tuple(runs))


def _measure_hanging(
    case: _Case,
    base: _Figures,
    peers: _Peers,
    pins: Pinning,
    work: Path,
    body_file: Path,
    options: Options,
) -> _Figures:
    """Open loops at ``HANG_RATE`` and at the rate of the same engine's 70% run."""
    at_load = base.role("70%")
    rates = [HANG_RATE]
    if at_load is not None and at_load.result.target_rate:
        rates.append(at_load.result.target_rate)
    runs: list[_Run] = []
    with _exchange(case, peers, pins, work) as (pid, port):
        for rate in sorted(rates):
            progress(f"{case.label} {case.engine}: open loop at {rate:,.0f} auctions/s")
            opened = _open(options, rate)
            runs.append(_timed(case, "hang", pins, port, pid, body_file, opened, rate))
    return _Figures(case, tuple(runs))


def _open(options: Options, rate: float) -> Options:
    """Enough connections that a full deadline per auction never runs out of them."""
    needed = math.ceil(rate * (HANG_TARGET_MS / 1e3) * 2)
    return replace(options, connections=max(options.connections, needed))


def _timed(
    case: _Case,
    role: str,
    pins: Pinning,
    port: int,
    pid: int,
    body_file: Path,
    options: Options,
    rate: float | None,
) -> _Run:
    before = _scrape(port)
    result = _loadgen(pins, port, body_file, pid, options, rate)
    after = _scrape(port)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    auctions = delta.pop("auctions", 0)
    return _Run(case, role, result, delta, auctions)


def _scrape(port: int) -> Counter[str]:
    """From the exchange's ``/metrics``, summed over bidders: ``rtb_bidder_calls_total`` by
    result, with ``error`` split by ``rtb_bidder_errors_total`` kind; and ``auctions``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        labels, _, value = line.rpartition(" ")
        if line.startswith("rtb_auction_requests_total{"):
            counts["auctions"] += round(float(value))
        elif line.startswith("rtb_bidder_calls_total{"):
            result = _label(labels, "result")
            if result not in (None, "error"):
                counts[result] += round(float(value))
        elif line.startswith("rtb_bidder_errors_total{"):
            kind = _label(labels, "kind")
            if kind not in (None, "timeout"):
                counts[kind] += round(float(value))
    return counts


def _label(labels: str, name: str) -> str | None:
    at = labels.find(f'{name}="')
    if at < 0:
        return None
    start = at + len(name) + 2
    return labels[start : labels.index('"', start)]


def _bidders_file(case: _Case, peers: _Peers, work: Path) -> Path:
    ports = peers.ports[: case.bidders]
    if case.hanging:
        ports = [peers.hang_port, *ports[1:]]
    dsps = [
        {
            "name": f"dsp-{index:02d}",
            "endpoint": f"http://127.0.0.1:{port}{_DSP_PATH}",
            "protocol": "h2c",
            "timeout_ms": DSP_TIMEOUT_MS,
        }
        for index, port in enumerate(ports)
    ]
    path = work / f"bidders-{case.bidders}{'-hang' if case.hanging else ''}.json"
    path.write_text(json.dumps({"routers": [], "dsps": dsps}, indent=1))
    return path


def _rtb() -> str:
    """The ``rtb`` console script next to this interpreter (the venv's)."""
    script = Path(sys.executable).with_name("rtb")
    if not script.exists():
        raise RuntimeError(f"{script} not found: install the project (pip install -e .)")
    return str(script)


@contextmanager
def _exchange(case: _Case, peers: _Peers, pins: Pinning, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of ``rtb serve`` on core 0 calling the case's DSPs, until the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTB_")}
    env.update(
        RTB_BIDDERS_FILE=str(_bidders_file(case, peers, work)),
        RTB_LOG_LEVEL="warning",
        RTB_DSP_HTTP2_ENGINE=case.engine,
    )
    if case.hanging:
        env["RTB_DSP_BREAKER_FAILURES"] = str(_NO_BREAKER)
    log_path = work / f"exchange-{case.bidders}-{case.engine}-{case.hanging}.log"
    command = [*pins.server, _rtb(), "serve", "--host", "127.0.0.1", "--port"]
    with serve_on_free_port(lambda port: [*command, str(port)], env, log_path, "rtb serve") as (
        process,
        port,
    ):
        _probe(case, port)
        yield process.pid, port


def _probe(case: _Case, port: int) -> None:
    """One auction before timing: 200 with a bid from the peers (else the runs would time an
    error path). The exchange prewarms its DSP connections at startup; wait for readiness."""
    deadline = time.monotonic() + 10.0
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(
                "POST", AUCTION_PATH, BANNER_REQUEST, {"content-type": "application/json"}
            )
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if response.status != 200:
        raise RuntimeError(f"{case.label}: expected 200, got {response.status}: {body[:500]!r}")
    bids = [b for s in json.loads(body).get("seatbid") or [] for b in s.get("bid", [])]
    if not bids or bids[0].get("crid") != "creative-7f3a9c":
        raise RuntimeError(f"{case.label}: no bid from the DSP peers: {body[:500]!r}")
    progress(
        f"{case.label} {case.engine}: probe OK, {len(body)} B response, "
        f"winner {bids[0].get('crid')} at {bids[0].get('price')} CPM"
    )


# -- report ---------------------------------------------------------------------------------------


def _context(pins: Pinning, options: Options) -> list[str]:
    return [
        f"CPU pinning: {pins.description} ({os.cpu_count()} CPUs); exchange = core 0, "
        "DSP peers AND load generator share core 1",
        "exchange: rtb serve (1 uvicorn worker, uvloop, httptools), bidders file with only "
        f"external DSPs (h2c, timeout_ms {DSP_TIMEOUT_MS}, no routers), RTB_LOG_LEVEL=warning, "
        "other RTB_* removed",
        f"peers: bench.dsp_peer's h2c server echoing the request id (so the exchange accepts "
        f"the bid), {PEER_PROCESSES} processes, {PEER_PORTS} answering ports + 1 hanging; every "
        "peer bids (~600 B); N bidders = the first N ports",
        f"load: bench.loadgen, {options.warmup_s:g} s warm-up + {options.duration_s:g} s "
        f"measured per run; closed loop {CLOSED_CONNECTIONS} connections (auctions in flight); "
        f"open loops at {', '.join(f'{r:g}' for r in FIXED_RATES)}/s and "
        f"{OPEN_LOOP_LOAD:.0%} of each configuration's saturation",
        f"request: {len(BANNER_REQUEST):,} B OpenRTB 2.6 banner (bench/payloads.py)",
    ]


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _us(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _per_call(run: _Run, parse_us: float | None) -> float | None:
    """(exchange CPU per auction − parse-only CPU per request) ÷ N: meaningful only for a
    healthy run (one where every auction called all N bidders)."""
    auction_us = run.result.server_us_per_request
    if auction_us is None or parse_us is None:
        return None
    return (auction_us - parse_us) / run.case.bidders


def _calls(run: _Run) -> str:
    total = sum(run.outcomes.values())
    if not total:
        return "–"
    other = ", ".join(f"{n} {k}" for k, n in sorted(run.outcomes.items()) if k != "bid")
    return f"{run.bid_share:.1%} bid" + (f" ({other})" if other else "")


def _flag(run: _Run) -> str:
    notes = []
    r = run.result
    busy = run.core1_share
    if busy is not None and busy >= _CORE_BUSY_WARNING:
        notes.append("CORE 1 SATURATED")
    if r.target_rate and r.sent_rps < 0.97 * r.target_rate:
        notes.append("rate not reached")
    if r.unfinished:
        notes.append(f"{r.unfinished} unfinished")
    if run.calls_made and run.auctions and run.calls_made < 0.99 * run.auctions * run.case.bidders:
        notes.append(f"{run.calls_made / run.auctions:.1f} calls/auction")
    if r.server_core_other is not None and r.server_core_other > _OTHER_LOAD_WARNING:
        notes.append("other load on core 0")
    return ", ".join(notes)


def _loop(run: _Run) -> str:
    return "closed" if run.closed else f"{run.result.target_rate or 0:.0f}/s"


def _statuses(run: _Run) -> str:
    return " ".join(f"{k}:{v}" for k, v in run.result.statuses.items())


def _report(context: list[str], parse: LoadResult, figures: list[_Figures]) -> Report:
    parse_us = parse.server_us_per_request
    context = [
        *context,
        f"parse-only app (same run, closed loop {CLOSED_CONNECTIONS} conn.): "
        f"{parse.rps:,.0f} req/s, {_us(parse_us)} µs CPU/req",
    ]
    return Report(
        "exchange-fanout",
        context,
        [_summary(figures, parse_us), _hang_table(figures), _detail(figures)],
        _verdicts(parse_us, figures),
    )


def _summary(figures: Sequence[_Figures], parse_us: float | None) -> Table:
    rows = []
    for fig in figures:
        sat, at = fig.role("saturation"), fig.role("70%")
        if fig.case.hanging or sat is None or at is None:
            continue
        rows.append(
            [
                fig.case.label,
                fig.case.engine,
                f"{sat.result.rps:,.0f}",
                f"{sat.bid_share:.1%}",
                f"{at.result.target_rate or 0:,.0f}",
                _ms(at.result.p50_ms),
                _ms(at.result.p99_ms),
                f"{at.bid_share:.1%}",
                _us(sat.result.server_us_per_request),
                _us(at.result.server_us_per_request),
                _us(_per_call(sat, parse_us) if sat.healthy else None),
                _us(_per_call(at, parse_us) if at.healthy else None),
                _best(fig, parse_us),
                _share(max((r.core1_share or 0.0) for r in fig.runs)),
                str(sum(r.result.non_2xx + r.result.errors for r in fig.runs)),
            ]
        )
    return Table(
        "Per N and engine (saturation: closed loop, 8 in flight; latency: open loop at 70% of "
        "it; µs/call = (µs/auction − parse-only µs/req) ÷ N, '–' where breakers skipped calls "
        "or calls failed; 'best healthy': at the highest rate where every call bid)",
        [
            "bidders",
            "engine",
            "sat auctions/s",
            "bids (sat)",
            "70% rate",
            "p50 ms",
            "p99 ms",
            "bids (70%)",
            "µs/auction sat",
            "µs/auction 70%",
            "µs/call sat",
            "µs/call 70%",
            "µs/call best healthy",
            "core 1 max",
            "non-2xx+err",
        ],
        rows,
    )


def _best_run(fig: _Figures) -> _Run | None:
    """The healthy run at the highest auctions/s: its CPU per call is the cleanest figure."""
    healthy = [r for r in fig.runs if r.healthy]
    return max(healthy, key=lambda r: r.result.rps) if healthy else None


def _best(fig: _Figures, parse_us: float | None) -> str:
    run = _best_run(fig)
    per_call = _per_call(run, parse_us) if run else None
    if run is None or per_call is None:
        return "none healthy"
    return f"{per_call:.0f} @{_loop(run)}"


def _own_time(figures: Sequence[_Figures], engine: str, rate: float | None) -> float | None:
    """p50 of the same engine's N=10 run without a hanging bidder at the same rate."""
    for fig in figures:
        if fig.case == _Case(HANG_BIDDERS, engine):
            for r in fig.runs:
                if rate and r.result.target_rate and abs(r.result.target_rate - rate) < 0.5:
                    return r.result.p50_ms
    return None


def _hang_table(figures: Sequence[_Figures]) -> Table:
    rows = []
    for fig in figures:
        if not fig.case.hanging:
            continue
        for r in fig.runs:
            own = _own_time(figures, fig.case.engine, r.result.target_rate)
            target = HANG_TARGET_MS + (own or 0.0)
            rows.append(
                [
                    fig.case.engine,
                    f"{r.result.target_rate or 0:,.0f}",
                    f"{r.result.rps:,.0f}",
                    _ms(r.result.p50_ms),
                    _ms(r.result.p99_ms),
                    _ms(r.result.max_ms),
                    "–" if own is None else _ms(own),
                    _ms(target),
                    "met" if r.result.p99_ms <= target else "MISSED",
                    _us(r.result.server_us_per_request),
                    _calls(r),
                    f"{r.result.non_2xx}/{r.result.errors}",
                ]
            )
    return Table(
        f"N={HANG_BIDDERS}, one never answers (breaker off so every auction waits for it; "
        f"target p99 ≤ {HANG_TARGET_MS:g} ms + the exchange's own time = p50 of the same "
        "engine at the same rate without the hanging bidder)",
        [
            "engine",
            "rate/s",
            "auctions/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "own ms",
            "target ms",
            "p99",
            "µs/auction",
            "bidder calls",
            "non-2xx/err",
        ],
        rows,
    )


def _detail(figures: Sequence[_Figures]) -> Table:
    rows = []
    for fig in figures:
        for r in fig.runs:
            res = r.result
            rows.append(
                [
                    fig.case.label,
                    fig.case.engine,
                    _loop(r),
                    f"{res.rps:,.0f}",
                    _ms(res.p50_ms),
                    _ms(res.p99_ms),
                    _ms(res.max_ms),
                    f"{res.non_2xx}/{res.errors}",
                    _statuses(r),
                    _share(res.server_cpu_share),
                    _share(res.client_cpu_share),
                    _share(res.client_core_other),
                    _share(r.core1_share),
                    _us(res.server_us_per_request),
                    _calls(r),
                    _flag(r),
                ]
            )
    return Table(
        "Every run (CPU shares of one core over the window; core-1 others = the peers, mostly; "
        "bidder calls include the warm-up)",
        [
            "case",
            "engine",
            "loop",
            "auctions/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "non-2xx/err",
            "statuses",
            "exchange CPU",
            "gen CPU",
            "core-1 others",
            "core 1",
            "µs/auction",
            "bidder calls",
            "note",
        ],
        rows,
    )


def _verdicts(parse_us: float | None, figures: Sequence[_Figures]) -> list[str]:
    lines = []
    for fig in figures:
        run = _best_run(fig)
        if fig.case.hanging:
            continue
        per_call = _per_call(run, parse_us) if run else None
        if run is None or per_call is None:
            lines.append(
                f"{fig.case.label} {fig.case.engine}: no run where every bidder call bid, "
                f"so no CPU per call (target ≤ {TARGET_US_PER_CALL:g}: MISSED)"
            )
            continue
        met = "met" if per_call <= TARGET_US_PER_CALL else "MISSED"
        lines.append(
            f"{fig.case.label} {fig.case.engine}: {per_call:.0f} µs exchange CPU per bidder "
            f"call ({_loop(run)}, {run.result.rps:,.0f} auctions/s; "
            f"target ≤ {TARGET_US_PER_CALL:g}: {met})"
        )
    for fig in figures:
        sat = fig.role("saturation")
        if fig.case.bidders != max(BIDDER_COUNTS) or fig.case.hanging or sat is None:
            continue
        healthy = sat.bid_share >= 0.99 and not sat.result.non_2xx and not sat.result.errors
        verdict = "no collapse" if healthy else "COLLAPSES (bidder calls fail or time out)"
        lines.append(
            f"{fig.case.label} {fig.case.engine}, {CLOSED_CONNECTIONS} auctions in flight: "
            f"{sat.result.rps:,.0f} auctions/s, {_calls(sat)}, statuses {_statuses(sat)}: "
            f"{verdict}"
        )
    busy = [
        f"{f.case.label} {f.case.engine} ({_loop(r)})"
        for f in figures
        for r in f.runs
        if "CORE 1" in _flag(r)
    ]
    if busy:
        lines.append(
            "core 1 (peers + generator) ≥ 90% busy during: "
            + ", ".join(busy)
            + " — the peers may be the limit there, not the exchange"
        )
    else:
        lines.append("core 1 (peers + generator) stayed below 90% busy in every run")
    return lines


if __name__ == "__main__":
    sys.exit(main())
