"""Overload section: twice the exchange's saturation, offered open loop — do answers still
leave within ``tmax``, and how much of the capacity still reaches the SSPs in time?

An SSP gives up on an answer after the request's ``tmax``: work spent on a late answer is
lost, and a loop that queues more than it can finish makes every answer late. The exchange
therefore sheds (``app.admission``): past ``RTB_MAX_IN_FLIGHT`` requests, or once a request
waited too long before its handler started (``RTB_SHED_AFTER_MS``, less with external
DSPs: ``exchange.deadlines``), it answers 204 at once, unparsed.
This section checks that under load it cannot carry.

Per setup, in its own ``rtb serve`` (one worker, core 0, defaults but its bidders file):
a closed loop measures the setup's saturation — answers per second that are 200 with bids
(shed 204s do not count) — then a fresh process gets an open loop at twice that rate
(requests due at fixed times whatever the answers; latency from the due time; enough
connections that the generator never holds one back for want of a free one). Setups:

* ``routers``: the demo-like routers of ``bench.bidders`` (two value-based campaigns scored
  per request), no external DSP;
* ``N=10, 1 hangs`` and ``N=50, 1 hangs``: N external h2c DSPs (``bench.exchange_fanout``'s
  id-echoing peers on core 1, with the load generator), one of which never answers; its
  breaker is held shut so that every auction waits the full 50 ms for it (the worst case:
  the default breaker would stop calling it after five timeouts). Their saturation is that
  of the same N with every DSP answering (closed loop, 8 in flight): with one hanging, 8
  connections measure 8 ÷ 50 ms, and a closed loop deep enough to cover the deadline
  (64) overloads the worker itself — most of its answers come after ``tmax``.

Figures: p50/p99/max latency of every answer and of the 200s against ``tmax`` (120 ms in
``bench.payloads``); goodput = 200s within ``tmax`` per second ÷ saturation; shed answers by
reason from ``/metrics``. Also, from healthy closed loops (N answering DSPs) next to the
parse-only app in the same run: exchange CPU per external DSP call at N = 10 and N = 50.
"""

import http.client
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from bench.bidders import demo_like
from bench.exchange_fanout import (
    DSP_TIMEOUT_MS,
    _bidders_file,
    _Case,
    _Peers,
    _peers,
    _rtb,
)
from bench.loadgen import LoadResult
from bench.payloads import AUCTION_PATH, BANNER_REQUEST
from bench.processes import Pinning, pinning, serve_on_free_port
from bench.scrape import Counters, scrape
from bench.section import Options, Report, Table, progress
from bench.serving import APPS, SCREEN_OFF, _background_load, _loadgen, _served

__all__ = ["run"]

TMAX_MS: Final[float] = float(json.loads(BANNER_REQUEST)["tmax"])
OVERLOAD: Final = 2.0
"""Offered rate as a multiple of the setup's saturation."""
TARGET_GOODPUT: Final = 0.80
TARGET_US_PER_CALL: Final = 150.0
SHALLOW: Final = 8
"""Closed-loop connections of a saturation run: keeps one worker busy, no queue past the
shed threshold (see ``bench.serving.SHALLOW_CONNECTIONS``)."""
MIN_OPEN_CONNECTIONS: Final = 64
LIGHT: Final = 0.5
SHED_REASONS: Final = ("overloaded", "queued_too_long", "no_time")
_NO_BREAKER: Final = 1_000_000
_CORE_BUSY_WARNING: Final = 0.90
_OTHER_LOAD_WARNING: Final = 0.10


@dataclass(frozen=True, slots=True)
class _Setup:
    key: str
    label: str
    bidders: int
    """External DSPs (0: the routers)."""
    hanging: bool
    env: tuple[tuple[str, str], ...] = ()
    """Settings on top of the section's (``RTB_*``)."""


SETUPS: Final = (
    _Setup("routers", "demo-like routers", 0, False),
    _Setup("n10", "N=10 DSPs", 10, False),
    _Setup("n10h", "N=10 DSPs, 1 hangs", 10, True),
    _Setup("n50", "N=50 DSPs", 50, False),
    _Setup("n50h", "N=50 DSPs, 1 hangs", 50, True),
)
"""In order: a hanging setup takes its saturation from the healthy one of the same N, which
also gives the CPU per DSP call (and has no overload run of its own). With external DSPs
the exchange admits a request only if it waited less than
``rtb_admission_queue_wait_limit_seconds`` (7.5 ms on the defaults, ``exchange.deadlines``):
an auction with DSPs waits that long again at each of its later turns of the loop, where
the routers' auction takes one."""


@dataclass(frozen=True, slots=True)
class _Run:
    setup: _Setup
    result: LoadResult
    counters: Counters

    @property
    def good_rps(self) -> float:
        """200s (with bids) within tmax per second of the window."""
        window = self.result.window_s
        return self.result.good / window if window else 0.0

    @property
    def bid_rps(self) -> float:
        """200s (with bids) per second, however late: a closed loop's saturation."""
        window = self.result.window_s
        return self.result.statuses.get("200", 0) / window if window else 0.0

    @property
    def shed(self) -> dict[str, int]:
        nobids = self.counters.by("rtb_nobids_total", "reason")
        return {r: round(nobids[r]) for r in SHED_REASONS if nobids.get(r)}

    @property
    def calls(self) -> dict[str, int]:
        """Bidder calls by result (bid, nobid, timeout, error), warm-up included."""
        return {
            k: round(v) for k, v in self.counters.by("rtb_bidder_calls_total", "result").items()
        }

    @property
    def auctions(self) -> float:
        """Requests that reached the bidders (not shed, not out of time)."""
        requests = self.counters.total("rtb_auction_requests_total")
        return requests - sum(self.shed.values())

    @property
    def core1_share(self) -> float | None:
        other = self.result.client_core_other
        return None if other is None else self.result.client_cpu_share + other


@dataclass(frozen=True, slots=True)
class _Figures:
    setup: _Setup
    saturation: _Run
    overload: _Run | None
    light: _Run | None = None
    """N answering DSPs: an open loop at ``LIGHT`` of saturation, for the CPU per call where
    the closed loop itself timed calls out (the peers share core 1 with the generator)."""

    def per_call(self, parse_us: float | None) -> tuple[float, _Run] | None:
        """CPU per DSP call from the first healthy run of the two, and that run."""
        for run in (self.saturation, self.light):
            per = _per_call(run, parse_us) if run is not None else None
            if per is not None and run is not None:
                return per, run
        return None


def run(options: Options) -> Report:
    """Peers up; the parse-only reference; then each setup's saturation and overload."""
    pins = pinning()
    per_run_s = options.warmup_s + options.duration_s + 1.0
    runs = 1 + len(SETUPS) + sum(1 for s in SETUPS if s.bidders and not s.hanging)
    progress(f"overload: {runs} runs of {per_run_s:.0f} s, about {runs * (per_run_s + 3):.0f} s")
    progress(pins.description)
    context = [*_context(pins, options), _background_load()]
    figures: list[_Figures] = []
    with _workdir() as work:
        body_file = work / "request.json"
        body_file.write_bytes(BANNER_REQUEST)
        with _peers(pins, work) as peers:
            parse = _parse_only(pins, work, body_file, options)
            for setup in SETUPS:
                healthy = None
                if setup.hanging:
                    healthy = next(
                        f.saturation
                        for f in figures
                        if f.setup.bidders == setup.bidders and not f.setup.hanging
                    )
                figures.append(_measure(setup, healthy, peers, pins, work, body_file, options))
    return _report(context, parse, figures)


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        yield Path(tmp)


def _parse_only(pins: Pinning, work: Path, body_file: Path, options: Options) -> LoadResult:
    app = next(a for a in APPS if a.key == "parse")
    with _served(app, pins, work) as (pid, port):
        progress(f"{app.label}: closed loop, {SHALLOW} connections")
        return _loadgen(pins, port, body_file, pid, replace(options, connections=SHALLOW), None)


def _measure(
    setup: _Setup,
    healthy: _Run | None,
    peers: _Peers,
    pins: Pinning,
    work: Path,
    body_file: Path,
    options: Options,
) -> _Figures:
    """A healthy setup: its saturation (closed loop), and for the routers the overload run.
    A hanging one: the overload run at twice ``healthy``'s saturation."""
    if healthy is None:
        with _exchange(setup, peers, pins, work) as (pid, port):
            progress(f"{setup.label}: closed loop, {SHALLOW} connections")
            saturation = _timed(setup, pins, port, pid, body_file, options, SHALLOW, None)
            if setup.bidders:
                rate = max(1.0, LIGHT * saturation.bid_rps)
                progress(f"{setup.label}: open loop at {rate:,.0f}/s ({LIGHT:.0%} of saturation)")
                light = _timed(
                    setup, pins, port, pid, body_file, options, MIN_OPEN_CONNECTIONS, rate
                )
                return _Figures(setup, saturation, None, light)
    else:
        saturation = healthy
    rate = OVERLOAD * saturation.bid_rps
    if rate < 1:
        raise RuntimeError(f"{setup.label}: no good answer at saturation, nothing to double")
    # Each connection carries one request at a time, answered within tmax (shed ones at once):
    # rate × tmax in flight at most, doubled so that none waits for a connection.
    open_connections = max(MIN_OPEN_CONNECTIONS, math.ceil(rate * TMAX_MS / 1e3 * 2))
    with _exchange(setup, peers, pins, work) as (pid, port):
        progress(
            f"{setup.label}: open loop at {rate:,.0f}/s ({OVERLOAD:g}× saturation), "
            f"{open_connections} connections"
        )
        overload = _timed(setup, pins, port, pid, body_file, options, open_connections, rate)
    return _Figures(setup, saturation, overload)


def _timed(
    setup: _Setup,
    pins: Pinning,
    port: int,
    pid: int,
    body_file: Path,
    options: Options,
    connections: int,
    rate: float | None,
) -> _Run:
    extra = ["--good-status", "200", "--deadline-ms", f"{TMAX_MS:g}"]
    before = scrape(port)
    result = _loadgen(
        pins, port, body_file, pid, replace(options, connections=connections), rate, extra
    )
    return _Run(setup, result, scrape(port).minus(before))


def _bidders_path(setup: _Setup, peers: _Peers, work: Path) -> Path:
    if setup.bidders == 0:
        return demo_like().write(work)
    return _bidders_file(_Case(setup.bidders, "lean", setup.hanging), peers, work)


@contextmanager
def _exchange(setup: _Setup, peers: _Peers, pins: Pinning, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of ``rtb serve`` on core 0 with the setup's bidders, until the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTB_")}
    env.update(SCREEN_OFF)
    env.update(RTB_BIDDERS_FILE=str(_bidders_path(setup, peers, work)), RTB_LOG_LEVEL="warning")
    if setup.hanging:
        env["RTB_DSP_BREAKER_FAILURES"] = str(_NO_BREAKER)
    env.update(setup.env)
    log_path = work / f"exchange-{setup.key}.log"
    command = [*pins.server, _rtb(), "serve", "--host", "127.0.0.1", "--port"]
    with serve_on_free_port(lambda port: [*command, str(port)], env, log_path, "rtb serve") as (
        process,
        port,
    ):
        _probe(setup, port)
        yield process.pid, port


def _probe(setup: _Setup, port: int) -> None:
    """One auction before timing: 200 with a bid, else the runs would time an error path."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", AUCTION_PATH, BANNER_REQUEST, {"content-type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    bids = []
    if response.status == 200:
        bids = [b for s in json.loads(body).get("seatbid") or [] for b in s.get("bid", [])]
    if not bids:
        raise RuntimeError(
            f"{setup.label}: expected 200 with bids, got {response.status}: {body[:300]!r}"
        )
    progress(f"{setup.label}: probe OK, winner {bids[0].get('crid')} at {bids[0].get('price')} CPM")


# -- report ----------------------------------------------------------------------------------


def _context(pins: Pinning, options: Options) -> list[str]:
    return [
        f"CPU pinning: {pins.description} ({os.cpu_count()} CPUs); DSP peers AND load "
        "generator share the generator's core",
        "exchange: rtb serve (1 uvicorn worker, server_options: the bounded protocol), default "
        "settings (RTB_MAX_IN_FLIGHT 128, RTB_SHED_AFTER_MS 20: 7.5 ms with DSPs) but its "
        "bidders file and the "
        "traffic screen off; with a hanging DSP its breaker is held shut",
        f"DSPs: h2c peers echoing the request id, timeout_ms {DSP_TIMEOUT_MS}; routers: "
        "bench.bidders demo-like (2 value-based campaigns scored per request)",
        f"load: bench.loadgen, {options.warmup_s:g} s warm-up + {options.duration_s:g} s "
        f"measured; saturation: closed loop, {SHALLOW} connections (with a hanging DSP: the "
        f"same N all answering); overload: open loop at {OVERLOAD:g}× it, latency from each "
        "request's due time",
        f"request: {len(BANNER_REQUEST):,} B OpenRTB 2.6 banner, tmax {TMAX_MS:g} ms; good "
        "answer = 200 (with bids: every bidder bids on it) within tmax",
    ]


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _calls(run: _Run) -> str:
    calls = run.calls
    total = sum(calls.values())
    if not total:
        return "–"
    return " ".join(f"{k}:{v}" for k, v in sorted(calls.items()))


def _per_call(run: _Run, parse_us: float | None) -> float | None:
    """(exchange CPU per auction − parse-only CPU per request) ÷ N, for a healthy run only:
    every auction called all N bidders, ≥ 99 % of the calls bid, ≤ 1 % of requests shed."""
    us = run.result.server_us_per_request
    n = run.setup.bidders
    if us is None or parse_us is None or n == 0 or run.setup.hanging:
        return None
    calls = run.calls
    total = sum(calls.values())
    requests = run.counters.total("rtb_auction_requests_total")
    healthy = (
        total >= 0.99 * run.auctions * n
        and calls.get("bid", 0) >= 0.99 * total
        and sum(run.shed.values()) <= 0.01 * requests
        and not run.result.non_2xx
        and not run.result.errors
    )
    return (us - parse_us) / n if healthy else None


def _report(context: list[str], parse: LoadResult, figures: list[_Figures]) -> Report:
    parse_us = parse.server_us_per_request
    context = [
        *context,
        f"parse-only app (same run, closed loop {SHALLOW} conn.): {parse.rps:,.0f} req/s, "
        f"{parse_us or 0:.0f} µs CPU/req",
    ]
    rows = []
    for fig in figures:
        over = fig.overload
        if over is None:
            continue
        r = over.result
        sat = fig.saturation.bid_rps
        goodput = over.good_rps / sat if sat else 0.0
        rows.append(
            [
                fig.setup.label,
                f"{sat:,.0f}",
                f"{r.target_rate or 0:,.0f}",
                f"{r.sent_rps:,.0f}",
                _ms(r.p50_ms),
                _ms(r.p99_ms),
                _ms(r.max_ms),
                _ms(r.good_status_p99_ms),
                _ms(r.good_status_max_ms),
                f"{over.good_rps:,.0f}",
                f"{goodput:.0%}",
                str(r.late),
                " ".join(f"{k}:{v}" for k, v in over.shed.items()) or "–",
                f"{r.non_2xx}/{r.errors}/{r.unfinished}",
                _share(r.server_cpu_share),
                _share(over.core1_share),
            ]
        )
    overload = Table(
        f"Open loop at {OVERLOAD:g}× saturation (latency from the due time, ms; tmax "
        f"{TMAX_MS:g}; goodput = 200s within tmax ÷ saturation 200s/s (closed loop), target "
        f"≥ {TARGET_GOODPUT:.0%}; "
        "shed from /metrics, warm-up included)",
        [
            "setup",
            "saturation 200s/s",
            "offered/s",
            "sent/s",
            "p50",
            "p99",
            "max",
            "200s p99",
            "200s max",
            "good/s",
            "goodput",
            "late 200s",
            "shed",
            "non-2xx/err/unfin.",
            "exchange CPU",
            "gen core",
        ],
        rows,
    )
    detail = []
    for fig in figures:
        runs = [("overload", fig.overload), (f"{LIGHT:.0%} of sat.", fig.light)]
        if not fig.setup.hanging:  # a hanging setup's saturation is the healthy row's
            runs.insert(0, ("saturation", fig.saturation))
        for role, run in runs:
            if run is None:
                continue
            r = run.result
            per_call = _per_call(run, parse_us)
            detail.append(
                [
                    fig.setup.label,
                    role,
                    f"c{r.connections}" + (f" @{r.target_rate:,.0f}/s" if r.target_rate else ""),
                    f"{r.rps:,.0f}",
                    f"{run.good_rps:,.0f}",
                    _ms(r.p50_ms),
                    _ms(r.p99_ms),
                    f"{r.server_us_per_request or 0:,.0f}",
                    "–" if per_call is None else f"{per_call:.0f}",
                    " ".join(f"{k}:{v}" for k, v in run.shed.items()) or "–",
                    _calls(run),
                    " ".join(f"{k}:{v}" for k, v in r.statuses.items()),
                    _share(r.server_core_other),
                    _share(run.core1_share),
                ]
            )
    every = Table(
        "Every run (µs/call = (exchange µs/auction − parse-only µs/req) ÷ N, healthy runs only; "
        "bidder calls by result, warm-up included; others = other processes on the server's "
        "core; gen core = the generator's and the peers' core, busy share)",
        [
            "setup",
            "run",
            "loop",
            "answers/s",
            "good/s",
            "p50 ms",
            "p99 ms",
            "µs/req",
            "µs/call",
            "shed",
            "bidder calls",
            "statuses",
            "others",
            "gen core",
        ],
        detail,
    )
    return Report(
        "overload", context, [overload, every], _verdicts(figures, parse_us), _failures(figures)
    )


def _verdicts(figures: list[_Figures], parse_us: float | None) -> list[str]:
    lines = []
    for fig in figures:
        over = fig.overload
        if over is None:
            continue
        r = over.result
        sat = fig.saturation.bid_rps
        goodput = over.good_rps / sat if sat else 0.0
        p99_met = "met" if r.p99_ms <= TMAX_MS else "MISSED"
        good_met = "met" if goodput >= TARGET_GOODPUT else "MISSED"
        lines.append(
            f"{fig.setup.label}: p99 {r.p99_ms:.1f} ms of every answer (≤ tmax {TMAX_MS:g}: "
            f"{p99_met}); goodput {goodput:.0%} of saturation (≥ {TARGET_GOODPUT:.0%}: {good_met})"
        )
    for fig in figures:
        if fig.setup.bidders and not fig.setup.hanging:
            found = fig.per_call(parse_us)
            if found is None:
                lines.append(f"{fig.setup.label}: no healthy run, no CPU per call (target MISSED)")
            else:
                per_call, run = found
                met = "met" if per_call <= TARGET_US_PER_CALL else "MISSED"
                loop = "closed" if run.result.target_rate is None else "open"
                lines.append(
                    f"{fig.setup.label}: {per_call:.0f} µs exchange CPU per DSP call "
                    f"({loop} loop, {run.result.rps:,.0f} auctions/s; "
                    f"target ≤ {TARGET_US_PER_CALL:g}: {met})"
                )
    busy = [
        f.setup.label
        for f in figures
        for r in (f.saturation, f.overload)
        if r is not None and (r.core1_share or 0.0) >= _CORE_BUSY_WARNING
    ]
    if busy:
        lines.append(
            "the generator's core (peers + generator + others) ≥ 90% busy during: "
            + ", ".join(busy)
            + " — the peers or the generator may limit those runs"
        )
    disturbed = [
        f.setup.label
        for f in figures
        for r in (f.saturation, f.overload)
        if r is not None and (r.result.server_core_other or 0.0) > _OTHER_LOAD_WARNING
    ]
    if disturbed:
        lines.append(
            f"other processes took > {_OTHER_LOAD_WARNING:.0%} of the server's core during: "
            + ", ".join(disturbed)
            + " — rerun on a quiet machine"
        )
    return lines


def _failures(figures: list[_Figures]) -> list[str]:
    out = []
    for fig in figures:
        for run in (fig.saturation, fig.overload, fig.light):
            if run is None:
                continue
            r = run.result
            fives = {k: v for k, v in r.statuses.items() if k.startswith("5")}
            if fives:
                out.append(f"{fig.setup.label}: bid requests answered 5xx: {fives}")
            if r.unfinished:
                out.append(f"{fig.setup.label}: {r.unfinished} requests never answered")
        if fig.setup.bidders == 0:
            scored = fig.saturation.counters.total("rtb_router_scored_candidates_total")
            if scored <= 0:
                out.append(f"{fig.setup.label}: no candidate scored by the models")
    return out


if __name__ == "__main__":
    sys.exit("run it as: python -m bench --section overload")
