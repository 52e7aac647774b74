"""An HTTP/1.1 keep-alive load generator in one asyncio (uvloop) process.

Why our own, next to wrk: a fresh machine may not have wrk, and wrk only measures closed
loops, where a stalled server also stalls the senders and so hides its own queueing
(coordinated omission). Two modes:

* closed loop: C connections, each sends the next request as soon as the previous one is
  answered. Its req/s is the saturation throughput; its latency is time from send.
* open loop: requests are due at fixed intervals (``1/rate``) whatever the server does, and
  go out on whichever of the C connections is free. A request due while every connection is
  busy waits, and that wait counts: its latency runs from when it was due (or from when a
  connection became free, if that was later than due but earlier than the actual send), so
  only this process's own timer lag (libuv timers tick in milliseconds) is left out. The lag
  is reported separately.

It parses only what it must to find the end of each response: the status line and
``Content-Length`` or chunked framing. The request bytes are encoded once.

Run it as a module; it prints one JSON ``LoadResult`` on stdout::

    python -m bench.loadgen --port 8000 --path /openrtb2/auction --body-file req.json \
        --mode open --rate 5000
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import uvloop

from bench.processes import core_ticks, cpu_seconds, other_load, pinned_core

__all__ = ["LoadResult", "LoadSpec", "build_request", "parse_response", "run"]

_GRACE_S: Final = 2.0
"""How long requests still in flight at the end of the window may take before they count as
unfinished."""


class ProtocolError(Exception):
    """A response this client cannot frame; the connection is dropped."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One run: where, what, how many connections, how long, and at which rate (None: closed)."""

    port: int
    body: bytes
    path: str
    """The request path (``/openrtb2/auction``); no default: a wrong one times 404s."""
    host: str = "127.0.0.1"
    connections: int = 32
    duration_s: float = 8.0
    warmup_s: float = 1.0
    rate: float | None = None
    server_pid: int | None = None
    good_status: int | None = None
    """The status of a good answer (the exchange: 200, bids); None: not counted."""
    deadline_ms: float | None = None
    """A good answer later than this (from its due time) is late (the SSP gave up)."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one run measured over its window (warm-up excluded); latencies in milliseconds."""

    mode: str
    connections: int
    target_rate: float | None
    window_s: float
    completed: int
    rps: float
    sent_rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non_2xx: int
    errors: int
    unfinished: int
    statuses: dict[str, int]
    client_cpu_s: float
    server_cpu_s: float | None
    send_lag_p50_ms: float
    send_lag_p99_ms: float
    server_core_other: float | None = None
    """Share of the server's core used by other processes over the window."""
    client_core_other: float | None = None
    """Share of the generator's core used by other processes over the window."""
    good: int = 0
    """Measured answers with ``good_status`` within ``deadline_ms`` of their due time."""
    late: int = 0
    """Measured answers with ``good_status`` after the deadline."""
    good_status_p50_ms: float = 0.0
    good_status_p99_ms: float = 0.0
    good_status_max_ms: float = 0.0
    """Latency of the answers with ``good_status`` alone (shed 204s are fast)."""

    @property
    def client_cpu_share(self) -> float:
        """Share of one core the generator used over the window."""
        return self.client_cpu_s / self.window_s if self.window_s else 0.0

    @property
    def server_cpu_share(self) -> float | None:
        """Share of one core the server used over the window."""
        if self.server_cpu_s is None or not self.window_s:
            return None
        return self.server_cpu_s / self.window_s

    @property
    def server_us_per_request(self) -> float | None:
        """Server CPU per answered request: valid even when the generator is the bottleneck."""
        if self.server_cpu_s is None or not self.completed:
            return None
        return self.server_cpu_s / self.completed * 1e6

    def to_json(self) -> str:
        """One line of JSON (the process output)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "LoadResult":
        """The inverse of ``to_json``."""
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """The complete HTTP/1.1 POST, encoded once and written as is for every request."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def parse_response(buf: bytearray | bytes) -> tuple[int, int] | None:
    """(status, length in bytes) of the first complete response in ``buf``; None if partial.

    Raises ProtocolError for a response framed neither by Content-Length nor chunked (which
    would end only when the connection closes: no keep-alive server sends that).
    """
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    body_start = head_end + 4
    try:
        status = int(buf[9:12])
    except ValueError:
        raise ProtocolError(f"bad status line {bytes(buf[:40])!r}") from None
    if status in (204, 304) or status < 200:
        return status, body_start
    head = bytes(buf[:head_end]).lower()
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        value = head[at + 17 : line_end if line_end >= 0 else len(head)]
        end = body_start + int(value)
        return (status, end) if len(buf) >= end else None
    at = head.find(b"\r\ntransfer-encoding:")
    if at >= 0 and b"chunked" in head[at:]:
        end_of_body = _chunked_end(buf, body_start)
        return None if end_of_body is None else (status, end_of_body)
    raise ProtocolError("response framed neither by Content-Length nor chunked")


class KeepAliveConnection:
    """One keep-alive HTTP/1.1 connection with one request in flight: a request out, its
    status, head and body back (httpx would cost more CPU than the load it makes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._buffer = bytearray()

    @classmethod
    async def open(cls, port: int) -> "KeepAliveConnection":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def send(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """(status, head, body) of the answer to ``raw``."""
        self._writer.write(raw)
        while (framed := parse_response(self._buffer)) is None:
            chunk = await self._reader.read(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        status, end = framed
        head_end = self._buffer.find(b"\r\n\r\n")
        head, body = bytes(self._buffer[:head_end]), bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        return status, head, body


def _chunked_end(buf: bytearray | bytes, pos: int) -> int | None:
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            # Optional trailers, then an empty line.
            end = buf.find(b"\r\n\r\n", pos - 2)
            return None if end < 0 else end + 4
        pos += size + 2
        if len(buf) < pos:
            return None


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, generator: "_Generator") -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.latency_from = 0.0
        self.in_window = False
        self.busy = False
        self.free_since = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, now: float, latency_from: float, in_window: bool) -> None:
        assert self.transport is not None
        self.busy = True
        self.sent_at = now
        self.latency_from = latency_from
        self.in_window = in_window
        self.transport.write(self.generator.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            try:
                framed = parse_response(self.buffer)
            except (ProtocolError, ValueError):
                self.generator.on_error(self)
                return
            if framed is None:
                return
            status, length = framed
            del self.buffer[:length]
            self.generator.on_response(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.generator.on_lost(self)


class _Generator:
    """The state of one run: connections, schedule, and what was measured."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.loop = asyncio.get_running_loop()
        self.request = build_request(spec.host, spec.port, spec.path, spec.body)
        self.connections: list[_Connection] = []
        self.free: deque[_Connection] = deque()
        self.pending: deque[float] = deque()
        self.latencies_s: list[float] = []
        self.good_latencies_s: list[float] = []
        self.deadline_s = spec.deadline_ms / 1e3 if spec.deadline_ms is not None else math.inf
        self.lags_s: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.completed_in_window = 0
        self.sent_in_window = 0
        self.in_flight_from_window = 0
        self.start = 0.0
        self.window_start = 0.0
        self.window_end = 0.0
        self.sending = True
        self.next_index = 0
        self.timer: asyncio.TimerHandle | None = None
        self.done = self.loop.create_future()
        self.marks: dict[str, tuple[float, float, float | None]] = {}
        self.core_marks: dict[str, dict[int, tuple[int, int]]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> LoadResult:
        await self._connect_all()
        now = time.perf_counter()
        self.start = now
        self.window_start = now + self.spec.warmup_s
        self.window_end = self.window_start + self.spec.duration_s
        self.loop.call_later(self.spec.warmup_s, self._mark, "start")
        self.loop.call_later(self.spec.warmup_s + self.spec.duration_s, self._end_window)
        if self.spec.rate is None:
            for connection in self.connections:
                connection.send(now, now, False)
        else:
            self.free.extend(self.connections)
            self._dispatch()
        try:
            await asyncio.wait_for(
                asyncio.shield(self.done), self.spec.warmup_s + self.spec.duration_s + _GRACE_S
            )
        except TimeoutError:
            pass
        finally:
            if self.timer is not None:
                self.timer.cancel()
            for connection in self.connections:
                if connection.transport is not None:
                    connection.transport.close()
        return self._result()

    async def _connect_all(self) -> None:
        for _ in range(self.spec.connections):
            self.connections.append(await self._connect())

    async def _connect(self) -> _Connection:
        _, protocol = await self.loop.create_connection(
            lambda: _Connection(self), self.spec.host, self.spec.port
        )
        protocol.free_since = time.perf_counter()
        return protocol

    def _mark(self, name: str) -> None:
        server = cpu_seconds(self.spec.server_pid) if self.spec.server_pid else None
        self.marks[name] = (time.perf_counter(), time.process_time(), server)
        self.core_marks[name] = core_ticks()

    def _end_window(self) -> None:
        self._mark("end")
        self.sending = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self.sending or self.done.done():
            return
        if self.spec.rate is not None and self.pending:
            return
        if any(c.busy and not c.closed for c in self.connections):
            return
        self.done.set_result(None)

    # -- open loop schedule ----------------------------------------------------------------

    def _due(self, index: int) -> float:
        assert self.spec.rate is not None
        return self.start + index / self.spec.rate

    def _dispatch(self) -> None:
        """Queue every request now due, send queued ones on free connections, rearm timer."""
        now = time.perf_counter()
        if self.sending:
            while (due := self._due(self.next_index)) <= now:
                if due < self.window_end:
                    self.pending.append(due)
                self.next_index += 1
        while self.pending and self.free:
            connection = self.free.popleft()
            if connection.closed:
                continue
            due = self.pending.popleft()
            in_window = self.window_start <= due < self.window_end
            # Waiting for a busy server (no connection free) counts; our own timer lag after a
            # connection was free does not.
            waited_for_server = max(0.0, connection.free_since - due)
            latency_from = now - waited_for_server
            if in_window:
                self.lags_s.append(now - max(due, connection.free_since))
                self.sent_in_window += 1
            connection.send(now, latency_from, in_window)
        if self.sending and self.timer is None:
            delay = self._due(self.next_index) - time.perf_counter()
            self.timer = self.loop.call_later(max(delay, 0.001), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.sending:
            self._dispatch()

    # -- events from connections -----------------------------------------------------------

    def on_response(self, connection: _Connection, status: int) -> None:
        now = time.perf_counter()
        connection.busy = False
        connection.free_since = now
        if self.window_start <= now < self.window_end:
            self.completed_in_window += 1
        closed_loop = self.spec.rate is None
        measured = (
            self.window_start <= now < self.window_end if closed_loop else connection.in_window
        )
        if measured:
            self.statuses[status] += 1
            latency_s = now - connection.latency_from
            self.latencies_s.append(latency_s)
            if status == self.spec.good_status:
                self.good_latencies_s.append(latency_s)
        if closed_loop:
            if self.sending:
                if self.window_start <= now < self.window_end:
                    self.sent_in_window += 1
                connection.send(now, now, False)
            else:
                self._maybe_done()
            return
        self.free.append(connection)
        self._dispatch()
        self._maybe_done()

    def on_error(self, connection: _Connection) -> None:
        if connection.busy and (connection.in_window or self.spec.rate is None):
            self.errors += 1
        connection.busy = False
        if connection.transport is not None:
            connection.transport.abort()

    def on_lost(self, connection: _Connection) -> None:
        if connection.busy:
            self.errors += 1
            connection.busy = False
        if connection in self.connections:
            self.connections.remove(connection)
        if self.sending and not self.done.done():
            self.loop.create_task(self._replace())
        else:
            self._maybe_done()

    async def _replace(self) -> None:
        """A dropped connection is replaced so the run keeps its concurrency."""
        try:
            connection = await self._connect()
        except OSError:
            self.errors += 1
            await asyncio.sleep(0.05)
            if self.sending:
                self.loop.create_task(self._replace())
            return
        self.connections.append(connection)
        now = time.perf_counter()
        if self.spec.rate is None:
            if self.sending:
                connection.send(now, now, False)
        else:
            self.free.append(connection)
            self._dispatch()

    # -- result ----------------------------------------------------------------------------

    def _result(self) -> LoadResult:
        start_wall, start_cpu, start_server = self.marks.get("start", (0.0, 0.0, None))
        end_wall, end_cpu, end_server = self.marks.get(
            "end", (time.perf_counter(), time.process_time(), None)
        )
        window_s = end_wall - start_wall
        server_cpu = (
            end_server - start_server
            if start_server is not None and end_server is not None
            else None
        )
        server_other = client_other = None
        if "start" in self.core_marks and "end" in self.core_marks:
            before, after = self.core_marks["start"], self.core_marks["end"]
            if self.spec.server_pid and server_cpu is not None:
                server_core = pinned_core(self.spec.server_pid)
                server_other = other_load(server_core, before, after, server_cpu)
            client_other = other_load(pinned_core(0), before, after, end_cpu - start_cpu)
        latencies_ms = sorted(x * 1e3 for x in self.latencies_s)
        lags_ms = sorted(x * 1e3 for x in self.lags_s)
        good_ms = sorted(x * 1e3 for x in self.good_latencies_s)
        in_time = sum(1 for x in self.good_latencies_s if x <= self.deadline_s)
        unfinished = len(self.pending) + sum(
            1 for c in self.connections if c.busy and (c.in_window or self.spec.rate is None)
        )
        non_2xx = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return LoadResult(
            mode="closed" if self.spec.rate is None else "open",
            connections=self.spec.connections,
            target_rate=self.spec.rate,
            window_s=window_s,
            completed=self.completed_in_window,
            rps=self.completed_in_window / window_s if window_s else 0.0,
            sent_rps=self.sent_in_window / window_s if window_s else 0.0,
            p50_ms=_percentile(latencies_ms, 50),
            p99_ms=_percentile(latencies_ms, 99),
            p999_ms=_percentile(latencies_ms, 99.9),
            max_ms=latencies_ms[-1] if latencies_ms else 0.0,
            non_2xx=non_2xx,
            errors=self.errors,
            unfinished=unfinished,
            statuses={str(k): v for k, v in sorted(self.statuses.items())},
            client_cpu_s=end_cpu - start_cpu,
            server_cpu_s=server_cpu,
            send_lag_p50_ms=_percentile(lags_ms, 50),
            send_lag_p99_ms=_percentile(lags_ms, 99),
            server_core_other=server_other,
            client_core_other=client_other,
            good=in_time,
            late=len(good_ms) - in_time,
            good_status_p50_ms=_percentile(good_ms, 50),
            good_status_p99_ms=_percentile(good_ms, 99),
            good_status_max_ms=good_ms[-1] if good_ms else 0.0,
        )


async def run(spec: LoadSpec) -> LoadResult:
    """Run one load against ``spec`` and return what it measured."""
    return await _Generator(spec).run()


def _parse_args(argv: Sequence[str] | None) -> LoadSpec:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--path",
        required=True,
        help="request path, e.g. /openrtb2/auction (required: a wrong one only times 404s)",
    )
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--rate", type=float, help="requests per second (open loop)")
    parser.add_argument("--server-pid", type=int, help="read this process's CPU time")
    parser.add_argument("--good-status", type=int, help="status of a good answer (counted)")
    parser.add_argument("--deadline-ms", type=float, help="a good answer after this is late")
    args = parser.parse_args(argv)
    if args.mode == "open" and (args.rate is None or args.rate <= 0):
        parser.error("--mode open needs a positive --rate")
    return LoadSpec(
        host=args.host,
        port=args.port,
        path=args.path,
        body=args.body_file.read_bytes(),
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate=args.rate if args.mode == "open" else None,
        server_pid=args.server_pid,
        good_status=args.good_status,
        deadline_ms=args.deadline_ms,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the load described by the arguments, print the JSON result."""
    spec = _parse_args(argv)
    result = uvloop.run(run(spec))
    sys.stdout.write(result.to_json() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
