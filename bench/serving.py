"""Serving section: what one uvicorn worker sustains for the exchange and two references.

The three apps are served one after another in the same run, each by one uvicorn worker
pinned to core 0 with identical settings, and loaded from core 1: a bare FastAPI endpoint
(the framework's floor), a parse-only endpoint (plus the exchange's decode and validation)
and the full exchange. Noise between runs on the same machine is 5–10%, so the ratios
between apps measured side by side mean more than any absolute figure.

Per app: saturation throughput with 32 closed-loop connections (our asyncio generator, and
wrk when installed), the server's CPU time per request (read from ``/proc``, so it stays
valid when the generator is the bottleneck), then latency in an open loop at 70% of that
app's own saturation rate, measured from each request's scheduled time.
"""

import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.loadgen import LoadResult
from bench.payloads import AUCTION_PATH, BANNER_REQUEST
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

__all__ = ["APPS", "ServedApp", "run"]

OPEN_LOOP_LOAD: Final = 0.70
"""Open-loop rate as a share of the app's own saturation throughput."""
TARGET_RATIO_VS_PARSE: Final = 0.50
TARGET_P99_MS: Final = 5.0
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


SCREEN_OFF: Final = {
    f"RTB_IVT_{check}": "off"
    for check in ("CRAWLER", "DATACENTER", "DEVICE", "SELLER", "SCHAIN", "RATE")
}

APPS: Final = (
    ServedApp("bare", "bare FastAPI (204)", "bench.reference_apps:bare_app", 204),
    ServedApp("parse", "parse-only (204)", "bench.reference_apps:parse_only_app", 204),
    ServedApp("exchange", "full exchange (200)", "app.main:serving_app", 200, SCREEN_OFF),
    ServedApp(
        "screened",
        "exchange with screening on (200)",
        "app.main:serving_app",
        200,
        {"RTB_IVT_RATE_PER_IP": "1000000000"},
    ),
)
"""The full exchange twice, side by side: with every traffic-quality check off (the
reference it always was) and on its default settings, where the screen runs (crawlers,
data-centre ranges, device, supply chain, rates; fraud.screen). One load generator sends
every request from one IP, over any sane per-IP limit within a second: the limit is lifted
so that the row times the screen passing clean traffic (the rates are still counted),
not the flagged path."""


@dataclass(frozen=True, slots=True)
class _ServerConfig:
    loop: str
    http: str


@dataclass(frozen=True, slots=True)
class _Measured:
    """One timed run: which tool, and what it measured."""

    tool: str
    result: LoadResult


@dataclass(frozen=True, slots=True)
class _AppFigures:
    app: ServedApp
    runs: tuple[_Measured, ...]
    saturation: _Measured
    open_loop: _Measured


def run(options: Options) -> Report:
    """Serve each app in turn, measure it, and report figures and ratios."""
    pins = pinning()
    server = _server_config()
    wrk = shutil.which("wrk") if options.use_wrk else None
    runs = 3 if wrk else 2
    per_app_s = runs * options.duration_s + 2 * options.warmup_s + 4
    progress(f"serving: {len(APPS)} apps × {runs} runs, about {len(APPS) * per_app_s:.0f} s")
    progress(pins.description)
    context = [*_context(pins, server, wrk, options), _background_load()]
    figures: list[_AppFigures] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        body_file = work / "request.json"
        body_file.write_bytes(BANNER_REQUEST)
        wrk_script = _write_wrk_script(work, body_file) if wrk else None
        for app in APPS:
            figures.append(
                _measure_app(app, pins, server, wrk, wrk_script, body_file, work, options)
            )
    return _report(context, figures)


# -- measuring one app ------------------------------------------------------------------------


def _measure_app(
    app: ServedApp,
    pins: Pinning,
    server: _ServerConfig,
    wrk: str | None,
    wrk_script: Path | None,
    body_file: Path,
    work: Path,
    options: Options,
) -> _AppFigures:
    runs: list[_Measured] = []
    with _served(app, pins, server, work) as (pid, port):
        _probe(app, port)
        progress(f"{app.label}: closed loop, {options.connections} connections (loadgen)")
        closed = _loadgen(pins, port, body_file, pid, options, rate=None)
        runs.append(_Measured("loadgen", closed))
        saturation = runs[0]
        if wrk is not None and wrk_script is not None:
            progress(f"{app.label}: closed loop, {options.connections} connections (wrk)")
            by_wrk = _Measured("wrk", _wrk(wrk, wrk_script, pins, port, pid, options))
            runs.append(by_wrk)
            if by_wrk.result.rps > saturation.result.rps:
                saturation = by_wrk
        rate = saturation.result.rps * OPEN_LOOP_LOAD
        progress(
            f"{app.label}: open loop at {rate:,.0f} req/s ({OPEN_LOOP_LOAD:.0%} of saturation)"
        )
        opened = _Measured("loadgen", _loadgen(pins, port, body_file, pid, options, rate=rate))
        runs.append(opened)
    return _AppFigures(app, tuple(runs), saturation, opened)


def _server_config() -> _ServerConfig:
    """uvloop and httptools when importable (they are with uvicorn[standard]); else the
    pure-Python fallbacks, which the report then names."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return _ServerConfig(loop, http)


def _server_env() -> dict[str, str]:
    """This environment without ``RTB_*``, so the exchange runs on its default settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RTB_")}


@contextmanager
def _served(
    app: ServedApp, pins: Pinning, server: _ServerConfig, work: Path
) -> Iterator[tuple[int, int]]:
    """(pid, port) of a uvicorn worker serving ``app`` until the block ends."""
    argv = [
        *pins.server,
        sys.executable,
        "-m",
        "uvicorn",
        app.factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--loop",
        server.loop,
        "--http",
        server.http,
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "3",
    ]
    log_path = work / f"server-{app.key}.log"
    for attempt in range(3):
        port = free_port()
        with (
            log_path.open("wb") as log,
            spawn(
                [*argv, "--port", str(port)],
                stdout=log,
                stderr=log,
                env={**_server_env(), **app.env},
            ) as process,
        ):
            try:
                wait_for_port(port, process)
            except RuntimeError:
                if attempt < 2 and b"address already in use" in log_path.read_bytes().lower():
                    continue  # lost the race for the port: pick another
                raise RuntimeError(f"{app.label} did not start:\n{_tail(log_path)}") from None
            progress(f"{app.label}: serving on 127.0.0.1:{port} (pid {process.pid})")
            yield process.pid, port
            return
    raise RuntimeError(f"{app.label}: no free port after 3 attempts")


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


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
    pins: Pinning, port: int, body_file: Path, server_pid: int, options: Options, rate: float | None
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


def _context(pins: Pinning, server: _ServerConfig, wrk: str | None, options: Options) -> list[str]:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return [
        f"Python: {python}; {_versions()}",
        f"uvicorn: 1 worker, loop={server.loop}, http={server.http}, access log off, "
        "log level warning; exchange on default settings (RTB_* removed from its environment)",
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


def _report(context: list[str], figures: list[_AppFigures]) -> Report:
    summary_rows = []
    for fig in figures:
        by_tool = {m.tool: m.result for m in fig.runs if m.result.target_rate is None}
        sat = fig.saturation.result
        opened = fig.open_loop.result
        summary_rows.append(
            [
                fig.app.label,
                f"{by_tool['loadgen'].rps:,.0f}",
                f"{by_tool['wrk'].rps:,.0f}" if "wrk" in by_tool else "–",
                _us(sat.server_us_per_request),
                f"{opened.target_rate or 0:,.0f}",
                _ms(opened.p50_ms),
                _ms(opened.p99_ms),
                _ms(opened.p999_ms),
                f"{sum(m.result.non_2xx for m in fig.runs)}/"
                f"{sum(m.result.errors for m in fig.runs)}",
            ]
        )
    summary = Table(
        "Per app (saturation: best closed loop; latency: open loop at 70% of it)",
        [
            "app",
            "sat req/s loadgen",
            "sat req/s wrk",
            "server CPU µs/req",
            "open rate",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
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
                    f"{'open' if r.target_rate else 'closed'} ({measured.tool})",
                    f"{r.target_rate:,.0f}" if r.target_rate else "–",
                    f"{r.rps:,.0f}",
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
                    _flag(r),
                ]
            )
    detail = Table(
        "Every run (CPU shares are of one core over the measured window)",
        [
            "app",
            "run",
            "target/s",
            "req/s",
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
            "note",
        ],
        detail_rows,
    )
    return Report("serving", context, [summary, detail], _verdicts(figures))


def _verdicts(figures: list[_AppFigures]) -> list[str]:
    by_key = {fig.app.key: fig for fig in figures}
    exchange = by_key["exchange"]
    lines = []
    for ref_key, target in (("parse", TARGET_RATIO_VS_PARSE), ("bare", None)):
        ref = by_key[ref_key]
        ratio = exchange.saturation.result.rps / ref.saturation.result.rps
        ex_us = exchange.saturation.result.server_us_per_request
        ref_us = ref.saturation.result.server_us_per_request
        cpu = f"; CPU/req {ref_us / ex_us:.2f}" if ex_us and ref_us else ""
        verdict = ""
        if target is not None:
            verdict = f" (target ≥ {target:.2f}: {'met' if ratio >= target else 'MISSED'})"
        lines.append(f"exchange ÷ {ref.app.label}: throughput {ratio:.2f}{cpu}{verdict}")
    screened = by_key.get("screened")
    if screened is not None:
        on_us = screened.saturation.result.server_us_per_request
        off_us = exchange.saturation.result.server_us_per_request
        if on_us and off_us:
            lines.append(
                f"screening on − off: {on_us - off_us:+.0f} µs CPU per request "
                f"(budget ≤ {SCREEN_BUDGET_US:g} µs; within run-to-run noise below ~5%: "
                "the screening section times the screen itself)"
            )
    p99 = exchange.open_loop.result.p99_ms
    met = "met" if p99 <= TARGET_P99_MS else "MISSED"
    lines.append(
        f"exchange p99 at {OPEN_LOOP_LOAD:.0%} of its saturation: {p99:.2f} ms "
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
