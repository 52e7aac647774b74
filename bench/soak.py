"""Soak section: does one exchange process keep its size and its speed over many auctions?

A process that grows with every auction it has answered pays for it twice: in memory, and
in CPU, since the garbage collector walks an ever larger heap. This starts the exchange as
``make run`` does (``rtb serve``: demo campaigns, in-memory store) pinned to one core,
drives a fixed number of auctions from a client on the other core, each winner followed by
its win and billing notices as an SSP fires them, and after every slice of auctions reads
the server's resident size (``VmRSS``) and CPU time from ``/proc``.

One change to the demo: its daily budgets are multiplied by ``BUDGET_SCALE``. At their own
size they are spent (or paced out) after some 130,000 auctions, and from there on the
exchange answers 204 without a notice to follow: every slice must do the same work, or
its size and CPU say nothing about the ones before. For the same reason the server sheds
nothing (``RTB_SHED_AFTER_MS=0``): on a busy machine a request easily waits its 20 ms in
the queue, and the share answered 204 unheard (far cheaper than an auction) would follow
the neighbours' load rather than the exchange.

The client runs in a child process (``python -m bench.soak --drive``) so that its own
garbage never lands on the measured core; it prints one JSON line per slice.

Run: ``python -m bench --section soak [--soak-auctions N]`` or ``python -m bench.soak``.
"""

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
import uvloop

from bench.loadgen import KeepAliveConnection, build_request
from bench.payloads import AUCTION_PATH, banner_request
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

__all__ = ["SLICE_AUCTIONS", "Slice", "run", "soak"]

SLICE_AUCTIONS: Final = 30_000
CONNECTIONS: Final = 8
"""Closed-loop connections: enough to keep one core busy, few enough to keep the client
cheap (each one waits for its auction and notices before the next auction)."""
TARGET_RATIO: Final = 1.10
BUDGET_SCALE: Final = 1_000
_ID_DIGITS: Final = 12


@dataclass(frozen=True, slots=True)
class Slice:
    """What the server looked like after one slice of auctions (``auctions``: cumulative)."""

    auctions: int
    seconds: float
    rss_kib: int
    cpu_s: float
    """Server CPU time spent on this slice."""
    slice_auctions: int
    auction_status: dict[str, int]
    notice_status: dict[str, int]
    """By status and ``x-notice-result`` (``204 recorded``, ``204 duplicate`` …)."""
    winners: dict[str, int]
    """Winning bids by seat."""
    server_core_other: float | None = None
    """Share of the server's core that other processes took over the slice."""
    client_core_other: float | None = None
    """The same on the client's core (on a 2-vCPU machine possibly the server core's
    hyperthread sibling, whose load slows the server without taking its time)."""

    @property
    def cpu_us_per_auction(self) -> float:
        """Server CPU per auction of the slice, its notices included."""
        return self.cpu_s / self.slice_auctions * 1e6 if self.slice_auctions else 0.0


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- the client (a child process) ---------------------------------------------------------------


class _Requests:
    """The auction request with a fresh ``id`` each time (an SSP never repeats one), spliced
    into bytes encoded once; the id has a fixed width, so the head is built once too."""

    def __init__(self, port: int) -> None:
        placeholder = "9" * _ID_DIGITS
        body = orjson.dumps({**banner_request(), "id": f"soak-{placeholder}"})
        raw = build_request("127.0.0.1", port, AUCTION_PATH, body)
        at = raw.index(placeholder.encode())
        self._before, self._after = raw[:at], raw[at + _ID_DIGITS :]
        self._host = f"Host: 127.0.0.1:{port}\r\n\r\n".encode()

    def auction(self, number: int) -> bytes:
        return self._before + str(number).zfill(_ID_DIGITS).encode() + self._after

    def notice(self, url: str) -> bytes:
        parts = urlsplit(url)
        return f"GET {parts.path}?{parts.query} HTTP/1.1\r\n".encode() + self._host


def _notice_result(head: bytes) -> str | None:
    at = head.lower().find(b"\r\nx-notice-result:")
    if at < 0:
        return None
    end = head.find(b"\r\n", at + 2)
    return head[at + 19 : end if end >= 0 else len(head)].strip().decode()


@dataclass(slots=True)
class _Tally:
    auction_status: Counter[str] = dataclasses.field(default_factory=Counter)
    notice_status: Counter[str] = dataclasses.field(default_factory=Counter)
    winners: Counter[str] = dataclasses.field(default_factory=Counter)


async def _auction(
    connection: KeepAliveConnection, requests: _Requests, number: int, tally: _Tally
) -> None:
    """One auction, then the win and billing notice of every bid it won."""
    status, _, body = await connection.send(requests.auction(number))
    tally.auction_status[str(status)] += 1
    if status != 200:
        return
    for seatbid in orjson.loads(body).get("seatbid", ()):
        for bid in seatbid.get("bid", ()):
            tally.winners[seatbid.get("seat", "?")] += 1
            for url in (bid.get("nurl"), bid.get("burl")):
                if not url:
                    continue
                status, head, _ = await connection.send(requests.notice(url))
                result = _notice_result(head)
                tally.notice_status[f"{status} {result}" if result else str(status)] += 1


async def _slice(
    pool: Sequence[KeepAliveConnection], requests: _Requests, numbers: range
) -> _Tally:
    """The auctions ``numbers``, shared out over the connections as each becomes free."""
    tally = _Tally()
    shared = iter(numbers)

    async def worker(connection: KeepAliveConnection) -> None:
        for number in shared:
            await _auction(connection, requests, number, tally)

    await asyncio.gather(*(worker(c) for c in pool))
    return tally


async def _drive(
    port: int, server_pid: int, auctions: int, slice_auctions: int, connections: int
) -> None:
    """Every ``slice_auctions`` auctions, one JSON ``Slice`` line on stdout. Each slice
    ends with every connection idle, so its CPU and size belong to exactly its auctions."""
    requests = _Requests(port)
    pool = [await KeepAliveConnection.open(port) for _ in range(connections)]
    done = 0
    try:
        while done < auctions:
            size = min(slice_auctions, auctions - done)
            cores_before, own_before = core_ticks(), time.process_time()
            cpu_before, started = cpu_seconds(server_pid), time.perf_counter()
            tally = await _slice(pool, requests, range(done, done + size))
            seconds = time.perf_counter() - started
            cpu_s = cpu_seconds(server_pid) - cpu_before
            own_s, cores_after = time.process_time() - own_before, core_ticks()
            others = other_load(pinned_core(server_pid), cores_before, cores_after, cpu_s)
            client_others = other_load(pinned_core(os.getpid()), cores_before, cores_after, own_s)
            done += size
            finished = Slice(
                auctions=done,
                seconds=seconds,
                rss_kib=rss_kib(server_pid),
                cpu_s=cpu_s,
                slice_auctions=size,
                auction_status=dict(tally.auction_status),
                notice_status=dict(tally.notice_status),
                winners=dict(tally.winners),
                server_core_other=others,
                client_core_other=client_others,
            )
            print(json.dumps(dataclasses.asdict(finished)), flush=True)
    finally:
        for connection in pool:
            await connection.aclose()


# -- the section -----------------------------------------------------------------------------------


def _demo_with_budgets(scale: int, path: Path) -> Path:
    """The demo bidders file with every campaign's daily budget ``scale`` times as large."""
    demo: dict[str, Any] = orjson.loads(
        resources.files("bidding").joinpath("demo_campaigns.json").read_bytes()
    )
    for router in demo["routers"]:
        for campaign in router["campaigns"]:
            campaign["daily_budget"] = str(Decimal(campaign["daily_budget"]) * scale)
    path.write_bytes(orjson.dumps(demo))
    return path


@contextmanager
def _served(pins: Pinning, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of ``rtb serve`` as ``make run`` starts it, pinned to the server core.
    ``RTB_*`` is removed from the environment (default settings) but for the bidders (the
    demo with larger budgets), no shedding and the state directory (in ``work``, not
    ``./var``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTB_")}
    env["RTB_STATE_DIR"] = str(work / "state")
    env["RTB_SHED_AFTER_MS"] = "0"
    env["RTB_BIDDERS_FILE"] = str(_demo_with_budgets(BUDGET_SCALE, work / "bidders.json"))
    rtb = str(Path(sys.executable).with_name("rtb"))
    port = free_port()
    log_path = work / "server.log"
    with (
        log_path.open("wb") as log,
        spawn(
            [*pins.server, rtb, "serve", "--port", str(port)], stdout=log, stderr=log, env=env
        ) as process,
    ):
        try:
            wait_for_port(port, process)
        except (RuntimeError, TimeoutError):
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"rtb serve did not start:\n{tail}") from None
        yield process.pid, port


def soak(
    auctions: int,
    slice_auctions: int = SLICE_AUCTIONS,
    connections: int = CONNECTIONS,
    pins: Pinning | None = None,
) -> tuple[int, list[Slice]]:
    """Serve, drive ``auctions`` auctions with their notices, stop; the server's RSS (KiB)
    once ready and before any auction, and every slice."""
    pins = pins or pinning()
    with (
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
        _served(pins, Path(tmp)) as (
            pid,
            port,
        ),
    ):
        time.sleep(1.0)  # let start-up work (model load, first ticks) settle
        start_rss = rss_kib(pid)
        argv = [
            *pins.loadgen,
            sys.executable,
            "-m",
            "bench.soak",
            "--drive",
            "--port",
            str(port),
            "--server-pid",
            str(pid),
            "--auctions",
            str(auctions),
            "--slice",
            str(slice_auctions),
            "--connections",
            str(connections),
        ]
        slices: list[Slice] = []
        with spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as client:
            assert client.stdout is not None
            for line in client.stdout:
                data: dict[str, Any] = json.loads(line)
                finished = Slice(**data)
                slices.append(finished)
                progress(
                    f"soak: {finished.auctions:,} auctions, RSS {finished.rss_kib / 1024:,.1f} MiB"
                    f", {finished.cpu_us_per_auction:,.0f} µs CPU per auction"
                    f", {finished.slice_auctions / finished.seconds:,.0f} auctions/s"
                )
            client.wait()
            if client.returncode != 0:
                err = client.stderr.read().decode() if client.stderr else ""
                raise RuntimeError(f"soak client failed ({client.returncode}):\n{err[-2000:]}")
    return start_rss, slices


def _verdict(ratio: float) -> str:
    return "within target" if ratio <= TARGET_RATIO else f"ABOVE TARGET ({TARGET_RATIO:.2f})"


def _share(counts: dict[str, int], total: int) -> str:
    return ", ".join(f"{key} {n / total:.0%}" for key, n in sorted(counts.items())) or "–"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {n:,}" for key, n in sorted(counts.items())) or "–"


def _report(
    started: datetime, start_rss: int, slices: Sequence[Slice], pins: Pinning, connections: int
) -> Report:
    first, last = slices[0], slices[-1]
    rows = [["start (ready, no auction yet)", f"{start_rss / 1024:,.1f}", *["–"] * 6]]
    for s in slices:
        rows.append(
            [
                f"{s.auctions:,}",
                f"{s.rss_kib / 1024:,.1f}",
                f"{s.cpu_us_per_auction:,.0f}",
                f"{s.slice_auctions / s.seconds:,.0f}",
                f"{_percent(s.server_core_other)} / {_percent(s.client_core_other)}",
                _counts(s.auction_status),
                _share(s.winners, max(1, sum(s.winners.values()))),
                f"{sum(s.notice_status.values()):,}",
            ]
        )
    rss_ratio = last.rss_kib / first.rss_kib
    cpu_ratio = last.cpu_us_per_auction / first.cpu_us_per_auction
    notices: Counter[str] = Counter()
    for s in slices:
        notices.update(s.notice_status)
    return Report(
        "soak: one rtb serve process (make run: demo campaigns, in-memory store) over "
        f"{last.auctions:,} auctions",
        context=[
            f"bidders: the demo campaigns with their daily budgets × {BUDGET_SCALE:,} (at their "
            "own size they run out within the run and the rest of it answers 204)",
            f"CPU pinning: {pins.description}; others s / c: share of the server's and the "
            "client's core that other processes took",
            f"load: {connections} keep-alive connections in a closed loop; every winning bid's "
            "nurl and burl fired right after its auction; a fresh request id per auction; "
            "no shedding (RTB_SHED_AFTER_MS=0: the share shed would follow the machine's load)",
            f"started {started:%Y-%m-%d %H:%M} UTC: the demo campaigns' dayparting "
            "and pacing follow the wall clock, so the winners column says who bid",
        ],
        tables=[
            Table(
                f"after every {slices[0].slice_auctions:,} auctions (CPU: server user+system "
                "time over the slice, per auction with its notices)",
                [
                    "auctions",
                    "RSS MiB",
                    "CPU µs/auction",
                    "auctions/s",
                    "others s / c",
                    "auction answers",
                    "winners (seat)",
                    "notices",
                ],
                rows,
            )
        ],
        notes=[
            f"RSS at {last.auctions:,} / at {first.auctions:,}: {rss_ratio:.3f} "
            f"({_verdict(rss_ratio)})",
            f"CPU per auction, last slice / first: {cpu_ratio:.3f} ({_verdict(cpu_ratio)})",
            f"notice answers: {', '.join(f'{k} {n:,}' for k, n in sorted(notices.items()))}",
        ],
    )


def run(options: Options) -> Report:
    """``options.soak_auctions`` auctions in slices of 30,000 (fewer if that is smaller)."""
    auctions = options.soak_auctions
    pins = pinning()
    progress(f"soak: {auctions:,} auctions with their notices; {pins.description}")
    started = datetime.now(UTC)
    start_rss, slices = soak(auctions, min(SLICE_AUCTIONS, auctions), pins=pins)
    return _report(started, start_rss, slices, pins, CONNECTIONS)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__,
    )
    parser.add_argument("--auctions", type=int, default=300_000)
    parser.add_argument("--slice", type=int, default=SLICE_AUCTIONS)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--drive", action="store_true", help="be the client (internal)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args(argv)
    if args.auctions <= 0 or args.slice <= 0 or args.connections <= 0:
        parser.error("--auctions, --slice and --connections must be positive")
    if args.drive and (args.port is None or args.server_pid is None):
        parser.error("--drive needs --port and --server-pid")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """The client (``--drive``), or the whole section with its report on stdout."""
    args = _parse_args(argv)
    if args.drive:
        uvloop.run(_drive(args.port, args.server_pid, args.auctions, args.slice, args.connections))
        return 0
    pins, started = pinning(), datetime.now(UTC)
    start_rss, slices = soak(args.auctions, args.slice, args.connections, pins)
    print(_report(started, start_rss, slices, pins, args.connections).render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
