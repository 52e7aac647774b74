"""Serving section: what one uvicorn worker sustains for the exchange and two references.

The apps are served one after another in the same run, each by one uvicorn worker pinned to
core 0 exactly as ``rtb serve`` serves the exchange (``bench.serve_app``), and loaded from
core 1: a bare FastAPI endpoint (the framework's floor), a parse-only endpoint (plus the
exchange's decode and validation), and the exchange on the bench's own bidders files
(``bench.bidders``): (a) the demo-like routers, two value-based campaigns scored by the
models per request, and (b) one router of 100 value-based campaigns of which 10 match.
Noise between runs on the same machine is 5–10%, so the ratios between apps measured side
by side mean more than any absolute figure.

Per app: saturation throughput with 32 closed-loop connections (our asyncio generator, and
wrk when installed), the server's CPU time per request (read from ``/proc``, so it stays
valid when the generator is the bottleneck), then latency in an open loop at 70% of that
app's own saturation rate, measured from each request's scheduled time.
"""

import http.client
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from bench.bidders import BenchBidders, demo_like, value_based
from bench.loadgen import LoadResult
from bench.payloads import AUCTION_PATH, BANNER_REQUEST
from bench.processes import (
    Pinning,
    core_ticks,
    cpu_seconds,
    other_load,
    pinned_core,
    pinning,
    serve_on_free_port,
    spawn,
)
from bench.scrape import Counters, scrape
from bench.section import Options, Report, Table, progress

__all__ = ["APPS", "ServedApp", "run"]

OPEN_LOOP_LOAD: Final = 0.70
"""Open-loop rate as a share of the app's own saturation throughput."""
TARGET_P99_MS: Final = 5.0
SHED_REASONS: Final = ("overloaded", "queued_too_long", "no_time")
"""No-bid reasons of requests that never reached a bidder (``rtb_nobids_total``)."""
SHALLOW_CONNECTIONS: Final = 8
"""The second closed loop's connections. 32 keep-alive connections stand a queue of 32
requests in front of the server: ~30 ms at a millisecond per auction, past the exchange's
20 ms ``RTB_SHED_AFTER_MS``, so it answers many of them 204 unheard (as it should: an SSP
would have given up) and times the shedding instead of the auction. Eight keep one worker
busy on loopback without that queue. Every app gets both loops; its best counts."""
SCREEN_BUDGET_US: Final = 20.0
_GENERATOR_BOUND_SHARE: Final = 0.90
"""A generator using this much of its core while the server uses less may be the limit."""
_OTHER_LOAD_WARNING: Final = 0.10
"""Share of a pinned core taken by other processes above which a run is flagged."""


@dataclass(frozen=True, slots=True)
class ServedApp:
    """An ASGI app factory to serve, and the status its probe request must get."""

    key: str
    label: str
    factory: str
    expected_status: int
    env: Mapping[str, str] = field(default_factory=dict)
    """Settings of this app (``RTB_*``), on top of the defaults."""
    bidders: Callable[[], BenchBidders] | None = None
    """The exchange's bidders file (``RTB_BIDDERS_FILE``); None: not the exchange."""
    target_vs_parse: float | None = None
    """Target throughput ÷ the parse-only app's, if any."""

    @property
    def is_exchange(self) -> bool:
        return self.bidders is not None


SCREEN_OFF: Final = {
    f"RTB_IVT_{check}": "off"
    for check in ("CRAWLER", "DATACENTER", "DEVICE", "SELLER", "SCHAIN", "RATE")
}

APPS: Final = (
    ServedApp("bare", "bare FastAPI (204)", "bench.reference_apps:bare_app", 204),
    ServedApp("parse", "parse-only (204)", "bench.reference_apps:parse_only_app", 204),
    ServedApp(
        "demo",
        "(a) exchange, demo-like routers (200)",
        "app.main:serving_app",
        200,
        SCREEN_OFF,
        bidders=demo_like,
        target_vs_parse=0.50,
    ),
    ServedApp(
        "value100",
        "(b) exchange, 100 value-based, 10 match (200)",
        "app.main:serving_app",
        200,
        SCREEN_OFF,
        bidders=value_based,
        target_vs_parse=0.30,
    ),
    ServedApp(
        "screened",
        "(a) with screening on (200)",
        "app.main:serving_app",
        200,
        {"RTB_IVT_RATE_PER_IP": "1000000000"},
        bidders=demo_like,
    ),
)
"""The exchange rows: (a) and (b) with every traffic-quality check off (the reference they
always were), and (a) again on its default screening settings, where the screen runs
(crawlers, data-centre ranges, device, supply chain, rates; fraud.screen). One load
generator sends every request from one IP, over any sane per-IP limit within a second:
the limit is lifted so that the row times the screen passing clean traffic (the rates are
still counted), not the flagged path."""


@dataclass(frozen=True, slots=True)
class _Measured:
    """One timed run: which tool, and what it measured."""

    tool: str
    result: LoadResult
    counters: Counters | None = None
    """The exchange's counters over the run, warm-up included (None: not the exchange)."""
    expected_status: int = 200

    @property
    def good_share(self) -> float:
        """Share of the answers with the app's expected status (the exchange: 200 with its
        bids; a shed 204 is not good). From the generator's statuses, or for wrk (which
        counts no statuses) from the exchange's own request outcomes."""
        statuses = self.result.statuses
        if statuses:
            total = sum(statuses.values())
            return statuses.get(str(self.expected_status), 0) / total if total else 0.0
        if self.counters is not None and self.expected_status == 200:
            total = self.counters.total("rtb_auction_requests_total")
            bid = self.counters.total("rtb_auction_requests_total", outcome="bid")
            return bid / total if total else 0.0
        return 1.0

    @property
    def good_rps(self) -> float:
        """Answers per second with the expected status: the throughput that counts."""
        return self.result.rps * self.good_share

    @property
    def us_per_good(self) -> float | None:
        """Server CPU per good answer: what the sheds cost is charged to the answers."""
        cpu = self.result.server_cpu_s
        good = self.result.completed * self.good_share
        return cpu / good * 1e6 if cpu is not None and good else None

    @property
    def auctions_run(self) -> float:
        """Auctions that reached the bidders: requests less those shed unheard or out of
        time before any bidder was called."""
        if self.counters is None:
            return 0.0
        requests = self.counters.total("rtb_auction_requests_total")
        shed = sum(self.counters.total("rtb_nobids_total", reason=r) for r in SHED_REASONS)
        return requests - shed

    @property
    def scored(self) -> float:
        """Candidates the routers scored with the models over the run."""
        if self.counters is None:
            return 0.0
        return self.counters.total("rtb_router_scored_candidates_total")

    @property
    def scored_per_auction(self) -> float | None:
        run = self.auctions_run
        return self.scored / run if run else None

    @property
    def shed(self) -> dict[str, float]:
        if self.counters is None:
            return {}
        nobids = self.counters.by("rtb_nobids_total", "reason")
        return {reason: nobids[reason] for reason in SHED_REASONS if nobids.get(reason)}


@dataclass(frozen=True, slots=True)
class _AppFigures:
    app: ServedApp
    runs: tuple[_Measured, ...]
    saturation: _Measured
    open_loop: _Measured


def run(options: Options) -> Report:
    """Serve each app in turn, measure it, and report figures and ratios."""
    pins = pinning()
    wrk = shutil.which("wrk") if options.use_wrk else None
    runs = 4 if wrk else 3
    per_app_s = runs * options.duration_s + 3 * options.warmup_s + 4
    progress(f"serving: {len(APPS)} apps × {runs} runs, about {len(APPS) * per_app_s:.0f} s")
    progress(pins.description)
    context = [*_context(pins, wrk, options), _background_load()]
    figures: list[_AppFigures] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        body_file = work / "request.json"
        body_file.write_bytes(BANNER_REQUEST)
        wrk_script = _write_wrk_script(work, body_file) if wrk else None
        for app in APPS:
            figures.append(_measure_app(app, pins, wrk, wrk_script, body_file, work, options))
    return _report(context, figures)


# -- measuring one app ------------------------------------------------------------------------


def _measure_app(
    app: ServedApp,
    pins: Pinning,
    wrk: str | None,
    wrk_script: Path | None,
    body_file: Path,
    work: Path,
    options: Options,
) -> _AppFigures:
    runs: list[_Measured] = []
    with _served(app, pins, work) as (pid, port):
        _probe(app, port)

        def timed(tool: str, run: Callable[[], LoadResult]) -> _Measured:
            before = scrape(port) if app.is_exchange else None
            result = run()
            counters = scrape(port).minus(before) if before is not None else None
            return _Measured(tool, result, counters, app.expected_status)

        shallow = replace(options, connections=SHALLOW_CONNECTIONS)
        progress(f"{app.label}: closed loop, {options.connections} connections (loadgen)")
        runs.append(timed("loadgen", lambda: _loadgen(pins, port, body_file, pid, options, None)))
        if wrk is not None and wrk_script is not None:
            progress(f"{app.label}: closed loop, {options.connections} connections (wrk)")
            runs.append(timed("wrk", lambda: _wrk(wrk, wrk_script, pins, port, pid, options)))
        if options.connections != SHALLOW_CONNECTIONS:
            progress(f"{app.label}: closed loop, {SHALLOW_CONNECTIONS} connections (loadgen)")
            runs.append(
                timed("loadgen", lambda: _loadgen(pins, port, body_file, pid, shallow, None))
            )
        saturation = max(runs, key=lambda m: m.good_rps)
        rate = saturation.good_rps * OPEN_LOOP_LOAD
        progress(
            f"{app.label}: open loop at {rate:,.0f} req/s ({OPEN_LOOP_LOAD:.0%} of saturation)"
        )
        opened = timed("loadgen", lambda: _loadgen(pins, port, body_file, pid, options, rate))
        runs.append(opened)
    return _AppFigures(app, tuple(runs), saturation, opened)


def _server_env() -> dict[str, str]:
    """This environment without ``RTB_*``, so the exchange runs on its default settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RTB_")}


@contextmanager
def _served(app: ServedApp, pins: Pinning, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of a uvicorn worker serving ``app`` as ``rtb serve`` would (the bounded
    protocol and limits of ``app.http_limits.server_options``) until the block ends."""
    argv = [*pins.server, sys.executable, "-m", "bench.serve_app", app.factory]
    env = {**_server_env(), **app.env}
    if app.bidders is not None:
        env["RTB_BIDDERS_FILE"] = str(app.bidders().write(work))
    log_path = work / f"server-{app.key}.log"
    with serve_on_free_port(
        lambda port: [*argv, "--port", str(port)], env, log_path, app.label
    ) as (process, port):
        progress(f"{app.label}: serving on 127.0.0.1:{port} (pid {process.pid})")
        yield process.pid, port


def _probe(app: ServedApp, port: int) -> None:
    """One request before timing: the app must answer as expected (the exchange with a bid),
    otherwise the figures would time an error path."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", AUCTION_PATH, BANNER_REQUEST, {"content-type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != app.expected_status:
        raise RuntimeError(
            f"{app.label}: expected {app.expected_status}, got {response.status}: {body[:500]!r}"
        )
    if app.expected_status == 200:
        seatbids = json.loads(body).get("seatbid") or []
        bids = [bid for seatbid in seatbids for bid in seatbid.get("bid", [])]
        if not bids:
            raise RuntimeError(f"{app.label}: 200 without bids: {body[:500]!r}")
        winner = bids[0]
        progress(
            f"{app.label}: probe OK, {len(body)} B response, "
            f"winner {winner.get('crid')} at {winner.get('price')} CPM"
        )
    else:
        progress(f"{app.label}: probe OK ({response.status})")


def _loadgen(
    pins: Pinning,
    port: int,
    body_file: Path,
    server_pid: int,
    options: Options,
    rate: float | None,
    extra: Sequence[str] = (),
) -> LoadResult:
    argv = [
        *pins.loadgen,
        sys.executable,
        "-m",
        "bench.loadgen",
        "--port",
        str(port),
        "--path",
        AUCTION_PATH,
        "--body-file",
        str(body_file),
        "--connections",
        str(options.connections),
        "--duration",
        str(options.duration_s),
        "--warmup",
        str(options.warmup_s),
        "--server-pid",
        str(server_pid),
    ]
    if rate is not None:
        argv += ["--mode", "open", "--rate", f"{rate:.1f}"]
    argv += extra
    timeout_s = options.warmup_s + options.duration_s + 30.0
    with spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        out, err = process.communicate(timeout=timeout_s)
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed ({process.returncode}):\n{err.decode()[-2000:]}")
    return LoadResult.from_json(out.decode().strip().splitlines()[-1])


# -- wrk --------------------------------------------------------------------------------------

_WRK_SCRIPT: Final = """\
local file = assert(io.open({path}, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def _write_wrk_script(work: Path, body_file: Path) -> Path:
    script = work / "post.lua"
    script.write_text(_WRK_SCRIPT.format(path=json.dumps(str(body_file))))
    return script


def _wrk(
    wrk: str, script: Path, pins: Pinning, port: int, server_pid: int, options: Options
) -> LoadResult:
    """A closed-loop run of wrk (one thread, on the generator core) as a LoadResult.

    The server is warm from the run before, so wrk runs for the measured duration only; its
    CPU time comes from the rusage of reaped children.
    """
    argv = [
        *pins.loadgen,
        wrk,
        "-t1",
        f"-c{options.connections}",
        f"-d{max(1, round(options.duration_s))}s",
        "--timeout",
        "2s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{AUCTION_PATH}",
    ]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cores_before = core_ticks()
    server_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    with spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        out, err = process.communicate(timeout=options.duration_s + 30.0)
    wall_s = time.perf_counter() - started
    server_cpu = cpu_seconds(server_pid) - server_before
    cores_after = core_ticks()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    lines = [line for line in out.decode().splitlines() if line.startswith("BENCH-JSON ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{(out + err).decode()[-2000:]}")
    data: Mapping[str, int] = json.loads(lines[-1].removeprefix("BENCH-JSON "))
    window_s = data["duration_us"] / 1e6
    requests = data["requests"]
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return LoadResult(
        mode="closed",
        connections=options.connections,
        target_rate=None,
        window_s=window_s,
        completed=requests,
        rps=requests / window_s if window_s else 0.0,
        sent_rps=requests / window_s if window_s else 0.0,
        p50_ms=data["p50_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        p999_ms=data["p999_us"] / 1e3,
        max_ms=data["max_us"] / 1e3,
        non_2xx=data["status"],
        errors=socket_errors,
        unfinished=0,
        statuses={},
        # Scaled to wrk's own window: its process also spent startup time outside it.
        client_cpu_s=client_cpu * window_s / wall_s if wall_s else client_cpu,
        server_cpu_s=server_cpu * window_s / wall_s if wall_s else server_cpu,
        send_lag_p50_ms=0.0,
        send_lag_p99_ms=0.0,
        server_core_other=other_load(
            pinned_core(server_pid), cores_before, cores_after, server_cpu
        ),
        client_core_other=other_load(pins.loadgen_core, cores_before, cores_after, client_cpu),
    )


# -- report -----------------------------------------------------------------------------------


def _versions() -> str:
    names = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "orjson")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def _context(pins: Pinning, wrk: str | None, options: Options) -> list[str]:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    bidders = [(app.label, app.bidders()) for app in APPS if app.bidders is not None]
    return [
        f"Python: {python}; {_versions()}",
        "server: every app as rtb serve serves the exchange (bench.serve_app: 1 uvicorn "
        "worker, app.http_limits.server_options: uvloop, the bounded httptools protocol, "
        "access log off); exchange on default settings (RTB_* removed) but its bidders file",
        *(
            f"{label}: bench.bidders {b.key}, {b.campaigns} campaigns, {b.expected_scored} "
            "value-based scored per request expected"
            for label, b in bidders
        ),
        f"CPU pinning: {pins.description} ({os.cpu_count()} CPUs)",
        f"load: {options.connections} connections, {options.warmup_s:g} s warm-up + "
        f"{options.duration_s:g} s measured per run; open loop at {OPEN_LOOP_LOAD:.0%} of "
        "each app's saturation",
        f"wrk: {wrk or 'not used (not installed or --no-wrk); asyncio load generator only'}",
        f"request: {len(BANNER_REQUEST):,} B OpenRTB 2.6 banner (bench/payloads.py)",
    ]


def _background_load(seconds: float = 1.0) -> str:
    """CPU use per core before anything starts: other work on the machine skews every figure
    (a test suite running next to the benchmark can halve the throughput)."""
    before = core_ticks()
    time.sleep(seconds)
    after = core_ticks()
    shares = []
    for core in sorted(after):
        busy = after[core][0] - before[core][0]
        total = max(1, after[core][1] - before[core][1])
        shares.append(f"core {core} {busy / total:.0%}")
    return f"background CPU load before start: {', '.join(shares)}"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _us(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _flag(result: LoadResult) -> str:
    notes = []
    server_share = result.server_cpu_share
    if (
        result.client_cpu_share >= _GENERATOR_BOUND_SHARE
        and server_share is not None
        and server_share < _GENERATOR_BOUND_SHARE
    ):
        notes.append("generator-bound?")
    if result.target_rate and result.sent_rps < 0.97 * result.target_rate:
        notes.append("rate not reached")
    if result.unfinished:
        notes.append(f"{result.unfinished} unfinished")
    others = (result.server_core_other, result.client_core_other)
    if any(other is not None and other > _OTHER_LOAD_WARNING for other in others):
        notes.append("other load on a pinned core")
    return ", ".join(notes)


def _scored(measured: _Measured) -> str:
    per = measured.scored_per_auction
    return "–" if per is None else f"{per:.1f}"


def _shed(measured: _Measured) -> str:
    return " ".join(f"{k}:{v:.0f}" for k, v in measured.shed.items()) or "–"


def _report(context: list[str], figures: list[_AppFigures]) -> Report:
    summary_rows = []
    for fig in figures:

        def closed(tool: str, connections: int, fig: _AppFigures = fig) -> str:
            for m in fig.runs:
                r = m.result
                if m.tool == tool and r.target_rate is None and r.connections == connections:
                    return f"{m.good_rps:,.0f}"
            return "–"

        sat = fig.saturation
        opened = fig.open_loop
        exchange = fig.app.is_exchange
        summary_rows.append(
            [
                fig.app.label,
                closed("loadgen", fig.runs[0].result.connections),
                closed("wrk", fig.runs[0].result.connections),
                closed("loadgen", SHALLOW_CONNECTIONS),
                _us(sat.result.server_us_per_request),
                _us(sat.us_per_good),
                f"{opened.result.target_rate or 0:,.0f}",
                _ms(opened.result.p50_ms),
                _ms(opened.result.p99_ms),
                _ms(opened.result.p999_ms),
                f"{opened.good_share:.1%}",
                _scored(sat) if exchange else "–",
                f"{sum(m.result.non_2xx for m in fig.runs)}/"
                f"{sum(m.result.errors for m in fig.runs)}",
            ]
        )
    summary = Table(
        "Per app (good answers/s of each closed loop — the exchange's: 200 with bids, shed "
        "204s not counted; saturation = the best of them, CPU µs/req from that run; latency: "
        "open loop at 70% of it; scored: candidates the models scored per auction, from the "
        "exchange's /metrics)",
        [
            "app",
            "c32 loadgen/s",
            "c32 wrk/s",
            f"c{SHALLOW_CONNECTIONS} loadgen/s",
            "server CPU µs/req",
            "µs/good",
            "open rate",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "good (open)",
            "scored/auction",
            "non-2xx/errors",
        ],
        summary_rows,
    )
    detail_rows = []
    for fig in figures:
        for measured in fig.runs:
            r = measured.result
            detail_rows.append(
                [
                    fig.app.key,
                    f"{'open' if r.target_rate else 'closed'} c{r.connections} ({measured.tool})",
                    f"{r.target_rate:,.0f}" if r.target_rate else "–",
                    f"{r.rps:,.0f}",
                    f"{measured.good_share:.1%}",
                    _ms(r.p50_ms),
                    _ms(r.p99_ms),
                    _ms(r.p999_ms),
                    _ms(r.max_ms),
                    f"{r.non_2xx}",
                    f"{r.errors}",
                    _share(r.server_cpu_share),
                    _share(r.client_cpu_share),
                    f"{_share(r.server_core_other)}/{_share(r.client_core_other)}",
                    _us(r.server_us_per_request),
                    _ms(r.send_lag_p99_ms) if r.target_rate else "–",
                    _scored(measured),
                    _shed(measured),
                    _flag(r),
                ]
            )
    detail = Table(
        "Every run (CPU shares are of one core over the measured window; scored and shed "
        "from /metrics over the run, warm-up included)",
        [
            "app",
            "run",
            "target/s",
            "req/s",
            "good",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "non-2xx",
            "errors",
            "server CPU",
            "gen CPU",
            "others s/g",
            "µs/req",
            "lag p99 ms",
            "scored/auction",
            "shed",
            "note",
        ],
        detail_rows,
    )
    return Report("serving", context, [summary, detail], _verdicts(figures), _failures(figures))


def _failures(figures: list[_AppFigures]) -> list[str]:
    """An exchange row whose value-based campaigns the models never scored times another
    path than it claims (the hour's dayparting, a model that did not load): say so loudly."""
    out = []
    for fig in figures:
        bidders = fig.app.bidders() if fig.app.bidders is not None else None
        if bidders is None or not bidders.expected_scored:
            continue
        for measured in fig.runs:
            if measured.scored <= 0:
                run = "open" if measured.result.target_rate else "closed"
                out.append(
                    f"{fig.app.label} ({measured.tool}, {run}): no candidate scored by the "
                    f"models, {bidders.expected_scored} per request expected — "
                    "the figures time another path"
                )
    return out


def _verdicts(figures: list[_AppFigures]) -> list[str]:
    by_key = {fig.app.key: fig for fig in figures}
    lines = []
    parse, bare = by_key["parse"], by_key["bare"]
    exchanges = [fig for fig in figures if fig.app.is_exchange]
    for exchange in exchanges:
        for ref, target in ((parse, exchange.app.target_vs_parse), (bare, None)):
            ratio = exchange.saturation.good_rps / ref.saturation.good_rps
            ex_us = exchange.saturation.us_per_good
            ref_us = ref.saturation.us_per_good
            cpu = f"; CPU per good answer {ref_us / ex_us:.2f}" if ex_us and ref_us else ""
            verdict = ""
            if target is not None:
                verdict = f" (target ≥ {target:.2f}: {'met' if ratio >= target else 'MISSED'})"
            lines.append(
                f"{exchange.app.label} ÷ {ref.app.label}: throughput {ratio:.2f}{cpu}{verdict}"
            )
    for exchange in exchanges:
        bidders = exchange.app.bidders() if exchange.app.bidders is not None else None
        per = exchange.saturation.scored_per_auction
        if bidders is not None and per is not None and per < bidders.expected_scored:
            lines.append(
                f"{exchange.app.label}: {per:.2f} candidates scored per auction, "
                f"{bidders.expected_scored} expected (pacing or the deadline left some out)"
            )
    screened, demo = by_key.get("screened"), by_key.get("demo")
    if screened is not None and demo is not None:
        on_us = screened.saturation.us_per_good
        off_us = demo.saturation.us_per_good
        if on_us and off_us:
            lines.append(
                f"screening on − off: {on_us - off_us:+.0f} µs CPU per request "
                f"(budget ≤ {SCREEN_BUDGET_US:g} µs; within run-to-run noise below ~5%: "
                "the screening section times the screen itself)"
            )
    for exchange in exchanges:
        if exchange.app.target_vs_parse is None:
            continue
        p99 = exchange.open_loop.result.p99_ms
        met = "met" if p99 <= TARGET_P99_MS else "MISSED"
        lines.append(
            f"{exchange.app.label} p99 at {OPEN_LOOP_LOAD:.0%} of its saturation: {p99:.2f} ms "
            f"(target ≤ {TARGET_P99_MS:g} ms: {met})"
        )
    flagged = [
        f"{fig.app.key} ({m.tool}, {'open' if m.result.target_rate else 'closed'})"
        for fig in figures
        for m in fig.runs
        if "generator-bound" in _flag(m.result)
    ]
    if flagged:
        lines.append(
            "generator near 100% of its core while the server was not: "
            + ", ".join(flagged)
            + " — trust server CPU µs/req over req/s there"
        )
    statuses = {
        fig.app.key: m.result.statuses
        for fig in figures
        for m in fig.runs
        if m.result.statuses and set(m.result.statuses) != {str(fig.app.expected_status)}
    }
    disturbed = [
        f"{fig.app.key} ({m.tool}, {'open' if m.result.target_rate else 'closed'})"
        for fig in figures
        for m in fig.runs
        if "other load" in _flag(m.result)
    ]
    if disturbed:
        lines.append(
            f"other processes took > {_OTHER_LOAD_WARNING:.0%} of a pinned core during: "
            + ", ".join(disturbed)
            + " — rerun on a quiet machine"
        )
    for key, counts in statuses.items():
        lines.append(f"{key}: statuses other than expected: {counts}")
    return lines
