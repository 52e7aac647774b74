"""Agents section: what an ARTF agent stage costs the exchange, side by side with no agents.

The reference agent (``python -m agents.reference`` on ``agents/reference/demo_rules.json``)
runs as its own processes pinned to core 1; the exchange side runs on core 0. The request
is ``bench.payloads``' banner with ``site.cat ["IAB17"]`` and a ``pmp`` deal ``pmp-1`` at
1.00 USD: the agent proposes one segment (``artf-sports``) and raises the deal's floor to
1.50, so every call carries mutations the policy applies.

1. In process (``python -m bench.agents --micro``, a child pinned to core 0):
   ``AgentHost.on_request`` awaited back to back with 1 agent and with 3 agents at the
   bid-request stage (3 reference agent processes, one port each), and as a baseline the
   same loop with no call at all (``judge_request`` on zero proposals). Per stage: this
   process's CPU (``time.process_time``: every thread, grpc's own included, the agent's
   process not) p50 and mean, and wall p50/p99.
2. The whole exchange (``rtb serve``, demo-like routers of ``bench.bidders``, memory store,
   screening off) on core 0, load (``bench.loadgen``) on core 1 with the agents: without
   ``RTB_AGENTS_FILE``, with 1 agent and with 3. Per configuration a closed loop of 1
   connection (sequential: no other auction holds the loop) and one of 8 (saturation),
   exchange CPU per auction from ``/proc``; then, in fresh processes, an open loop at one
   rate for all of them (half the lowest capacity, ``_capacity``) for p50/p99. CPU per
   agent call = (µs/auction with k agents − without, same loop) ÷ k; the latency an agent
   stage adds = p50/p99 with agents − without. ``rtb_agent_calls_total`` and
   ``rtb_agent_mutations_total`` are read from ``/metrics`` around every run. A run whose
   agents answered but had nothing applied raises (a benchmark of an agent that does
   nothing measures nothing); one where under 1 % of the calls were answered within their
   deadline is a ``FAILED:`` line (its figures time calls the auction never waited for)
   and the command exits 1, with every figure still printed.
3. The targets: ≤ 100 µs exchange CPU per agent call, p99 added ≤ the agent's deadline
   (5 ms) + 1 ms.

``python -m bench.agents`` runs the section alone; ``--profile`` runs the in-process
1-agent loop under cProfile (main thread CPU) and prints where the time goes.
"""

import argparse
import contextlib
import cProfile
import gc
import http.client
import io
import json
import os
import pstats
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import orjson
import uvloop
from prometheus_client import CollectorRegistry

from agents.client import DEFAULT_ENGINE, CallOutcome
from agents.config import ALWAYS_SHOWN, NO_AGENTS, Stage, load_agents
from agents.convert import dict_to_request
from agents.host import AgentHost, _Views
from agents.metrics import AgentMetrics
from agents.policy import judge_request
from agents.proposals import proposals_of
from agents.protos import artf_pb2
from agents.views import cut, tree_of
from bench.bidders import demo_like
from bench.exchange_fanout import _rtb
from bench.loadgen import LoadResult
from bench.payloads import AUCTION_PATH, banner_request
from bench.processes import Pinning, cpu_seconds, pinning, serve_on_free_port, spawn, tail
from bench.scrape import Counters, scrape
from bench.section import Options, Report, Table, median_p99, progress
from bench.serving import SCREEN_OFF, _background_load, _loadgen
from openrtb.codec import decode_request
from openrtb.privacy import privacy_signals, restrict

__all__ = ["AGENT_COUNTS", "AGENT_REQUEST", "agent_request", "agents_spec", "main", "run"]

AGENT_COUNTS: Final = (1, 3)
"""Agents on the bid-request stage, beside the run without any."""
DEADLINE_MS: Final = 5
TARGET_US_PER_CALL: Final = 100.0
TARGET_ADDED_P99_MS: Final = DEADLINE_MS + 1.0
STAGE_TIMEOUT_S: Final = 0.05
"""What is left of the auction's time when the in-process stage starts (the agent's own
deadline, 5 ms, is the tighter limit)."""
CONNECT_TIMEOUT_S: Final = 2.0
CLOSED_CONNECTIONS: Final = 8
"""Auctions in flight in the closed loop: enough to keep one worker busy while each waits
for its agents, few enough that none waits ``RTB_SHED_AFTER_MS`` (20) and is shed."""
OPEN_LOOP_LOAD: Final = 0.50
"""The open loops' rate as a share of the *lowest* capacity among the configurations
(``_capacity``), so that every configuration is well under its own (half the no-agent
saturation would load the exchange with 3 agents near its limit)."""
MAX_CALLS: Final = 200_000
"""Cap on the in-process loop's samples (the baseline runs ~1 µs per turn)."""
PROFILE_CALLS: Final = 3_000
RULES: Final = Path(__file__).resolve().parents[1] / "agents" / "reference" / "demo_rules.json"
REPO_ROOT: Final = Path(__file__).resolve().parents[1]
FIELDS: Final = ("site", "app", "device.geo", "imp.banner", "imp.pmp")
INTENTS: Final = ("ACTIVATE_SEGMENTS", "ADJUST_DEAL_FLOOR")
SEGTAX: Final = 4
DEAL_ID: Final = "pmp-1"
NO_BREAKER: Final = 1000
"""The agents' ``failure_threshold`` (the file's maximum): a burst of timeouts never opens a
breaker, so every auction calls every agent and the CPU per call is that of calls made (a
skipped call costs nothing); the timeouts still show in ``rtb_agent_calls_total``."""
HEALTHY_SHARE: Final = 0.99
"""A run's CPU per call counts as measured when this share of its calls answered ``ok``."""
UNHEARD_SHARE: Final = 0.01
"""Under this share of calls ``ok``, a run's figures are a ``FAILED:`` line."""
_START_TIMEOUT_S: Final = 30.0
_PROBE_TIMEOUT_S: Final = 15.0
_CORE_BUSY_WARNING: Final = 0.90
_OTHER_LOAD_WARNING: Final = 0.10
_SHORT: Final = {"ACTIVATE_SEGMENTS": "segments", "ADJUST_DEAL_FLOOR": "floor"}


def agent_request() -> dict[str, Any]:
    """The bench banner request on a sports page with a ``pmp-`` deal: the reference agent's
    demo rules activate a segment for it and raise the deal's floor from 1.00 to 1.50."""
    request = banner_request()
    request["site"]["cat"] = ["IAB17"]
    request["imp"][0]["pmp"] = {"deals": [{"id": DEAL_ID, "bidfloor": 1.0, "bidfloorcur": "USD"}]}
    return request


AGENT_REQUEST: Final[bytes] = orjson.dumps(agent_request())


def agents_spec(targets: Sequence[str]) -> dict[str, Any]:
    """An agents file naming one agent per target (``ref-1``, ``ref-2`` …), all at the
    bid-request stage with the same fields, intents and deadline."""
    return {
        "allowed_segtax": [SEGTAX],
        "agents": [
            {
                "name": f"ref-{index}",
                "target": target,
                "stages": ["bid_request"],
                "intents": list(INTENTS),
                "fields": list(FIELDS),
                "deadline_ms": DEADLINE_MS,
                "segtax": SEGTAX,
                "failure_threshold": NO_BREAKER,
            }
            for index, target in enumerate(targets, start=1)
        ],
    }


def _write_agents_file(work: Path, targets: Sequence[str]) -> Path:
    path = work / f"agents-{len(targets)}.json"
    path.write_text(json.dumps(agents_spec(targets), indent=1))
    return path


def _child_env() -> dict[str, str]:
    """This environment without ``RTB_*``, with the repository importable (``bench``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTB_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


# -- the reference agents -------------------------------------------------------------------


def _listening(process: subprocess.Popen[bytes], log: Path) -> str:
    """The ``host:port`` of the agent's ``listening on HOST:PORT`` line."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + _START_TIMEOUT_S
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"reference agent silent after {_START_TIMEOUT_S:g} s")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        chunk = os.read(fd, 4096) if ready else b""
        if (ready and not chunk) or (not ready and process.poll() is not None):
            raise RuntimeError(f"reference agent exited ({process.poll()}):\n{tail(log)}")
        buf += chunk
    line = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"reference agent printed {line!r}:\n{tail(log)}")
    return line.removeprefix("listening on ")


@dataclass(frozen=True, slots=True)
class Agents:
    """The reference agent processes: ``host:port`` and pid of each."""

    targets: list[str]
    pids: list[int]

    def cpu_s(self, count: int) -> float:
        """User + system CPU of the first ``count`` agents so far."""
        return sum(cpu_seconds(pid) for pid in self.pids[:count])


@contextlib.contextmanager
def reference_agents(count: int, pins: Pinning, work: Path) -> Iterator[Agents]:
    """``count`` reference agent processes on the load generator's core, one port each,
    until the block ends."""
    with contextlib.ExitStack() as stack:
        started = []
        for index in range(1, count + 1):
            log_path = work / f"agent-{index}.log"
            log = stack.enter_context(log_path.open("wb"))
            argv = [*pins.loadgen, sys.executable, "-m", "agents.reference"]
            argv += ["--listen", "127.0.0.1:0", "--rules", str(RULES), "--log-level", "warning"]
            process = stack.enter_context(
                spawn(argv, stdout=subprocess.PIPE, stderr=log, env=_child_env())
            )
            if process.stdout is not None:
                stack.callback(process.stdout.close)
            started.append((process, log_path))
        targets = [_listening(process, log_path) for process, log_path in started]
        pids = [process.pid for process, _ in started]
        progress(f"reference agents: {', '.join(targets)} (pids {pids})")
        yield Agents(targets, pids)


# -- 1. in process: the host side of one stage ---------------------------------------------


@dataclass(frozen=True, slots=True)
class InProcess:
    """One in-process loop: ``agents`` agents on the stage (0: the baseline)."""

    agents: int
    calls: int
    cpu_p50_us: float
    cpu_mean_us: float
    main_mean_us: float
    """The main thread's CPU alone (the rest is grpc's threads)."""
    wall_p50_ms: float
    wall_p99_ms: float
    wall_max_ms: float
    outcomes: dict[str, int]
    decisions: dict[str, int]
    """``INTENT reason`` → count over the measured calls."""
    stages_run: int
    """Every stage the child ran (warm-up and profile included)."""
    agent_us_per_call: float | None = None
    """The agent processes' CPU per call over the child's whole run (set by the parent)."""
    engine: str = DEFAULT_ENGINE
    """How the host called its agents (``agents.channels``)."""

    @property
    def label(self) -> str:
        if not self.agents:
            return "baseline: no call"
        return f"{self.agents} agent{'s' * (self.agents > 1)}, {self.engine}"

    @property
    def applied(self) -> int:
        return sum(n for key, n in self.decisions.items() if key.endswith(" applied"))

    def per_call_us(self, baseline: "InProcess | None") -> float | None:
        if not self.agents:
            return None
        floor = baseline.cpu_mean_us if baseline is not None else 0.0
        return (self.cpu_mean_us - floor) / self.agents


def _stage(
    agents_file: Path | None, engine: str = DEFAULT_ENGINE
) -> tuple[Callable[[int], Awaitable[Any]], Any]:
    """The coroutine one turn of the loop awaits, and the host (None for the baseline)."""
    full = decode_request(AGENT_REQUEST)
    signals = privacy_signals(full)
    if agents_file is None:

        async def nothing(_: int) -> Any:
            return judge_request(full, (), {}, NO_AGENTS, signals), ()

        return nothing, None
    host = AgentHost(load_agents(agents_file), AgentMetrics(CollectorRegistry()), engine=engine)
    ids = [f"bench-{i:07d}" for i in range(MAX_CALLS + 1)]

    async def call(i: int) -> Any:
        return await host.on_request(full, signals, ids[i], timeout_s=STAGE_TIMEOUT_S)

    return call, host


async def _in_process(
    agents_file: Path | None, warmup_s: float, duration_s: float, profile: bool, engine: str
) -> dict[str, Any]:
    stage, host = _stage(agents_file, engine)
    if host is not None:
        ready = await host.connect(CONNECT_TIMEOUT_S)
        if not all(ready.values()):
            raise RuntimeError(f"agents not ready: {ready}")
    gc.collect()
    gc.freeze()  # as app.main does after start-up
    clock, cpu = time.perf_counter, time.process_time
    until = clock() + warmup_s
    turn = 0
    while clock() < until or turn < 10:
        await stage(turn % MAX_CALLS)
        turn += 1
    walls: list[float] = []
    cpus: list[float] = []
    outcomes: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    started_cpu, started_main = cpu(), time.thread_time()
    until = clock() + duration_s
    calls = 0
    while calls < MAX_CALLS and (calls < 10 or clock() < until):
        c0 = cpu()
        w0 = clock()
        _, reports = await stage(calls)
        w1 = clock()
        c1 = cpu()
        walls.append(w1 - w0)
        cpus.append(c1 - c0)
        for report in reports:
            outcomes[report.outcome] += 1
            for decision in report.decisions:
                decisions[f"{decision.intent} {decision.reason}"] += 1
        calls += 1
    total_cpu, total_main = cpu() - started_cpu, time.thread_time() - started_main
    out: dict[str, Any] = {}
    if profile and host is not None:
        out["profile"] = await _pieces(host) + "\n" + await _profiled(stage)
        turn += PROFILE_CALLS + _PIECE_CALLS
    if host is not None:
        await host.close()
    cpu_p50, _ = median_p99(cpus)
    wall_p50, wall_p99 = median_p99(walls)
    out["result"] = {
        "agents": 0 if host is None else len(host.config.agents),
        "calls": calls,
        "cpu_p50_us": cpu_p50 * 1e6,
        "cpu_mean_us": total_cpu / calls * 1e6,
        "main_mean_us": total_main / calls * 1e6,
        "wall_p50_ms": wall_p50 * 1e3,
        "wall_p99_ms": wall_p99 * 1e3,
        "wall_max_ms": max(walls) * 1e3,
        "outcomes": dict(outcomes),
        "decisions": dict(decisions),
        "stages_run": turn + calls,
        "engine": engine,
    }
    return out


_PIECE_CALLS: Final = 2_000


async def _pieces(host: AgentHost) -> str:
    """This process's CPU for each part of one stage with the first agent, each part run
    ``_PIECE_CALLS`` times in a row (hot, so a lower bound of its share in the stage). Uses
    the host's internals: a profiling aid, not a figure of the report."""
    full = decode_request(AGENT_REQUEST)
    signals = privacy_signals(full)
    spec = host.config.agents[0]
    client = host.clients[spec.name]
    tree = tree_of((*ALWAYS_SHOWN, *spec.fields))
    grant = signals.grant(spec.gvl_vendor_id)
    dump = restrict(full, grant).model_dump(mode="json", exclude_unset=True, exclude_none=True)
    shown = cut(dump, tree)
    message = dict_to_request(shown)
    payload = _Views(full, signals, "bench").request_bytes(spec, tree)
    header = host._header(Stage.BID_REQUEST, spec, "bench", DEADLINE_MS / 1e3)
    channel = client._open()
    answer = await channel.call(header + payload, STAGE_TIMEOUT_S)
    response = artf_pb2.RTBResponse.FromString(answer)
    proposals = proposals_of(spec.name, response.mutations)
    change = judge_request(full, proposals, host._specs, host.config, signals)
    outcome = CallOutcome(spec.name, "ok", 1.0, proposals)
    parts: list[tuple[str, Callable[[], object]]] = [
        (
            "view: _Views.request_bytes (all below)",
            lambda: _Views(full, signals, "b").request_bytes(spec, tree),
        ),
        ("  privacy: restrict(full, grant)", lambda: restrict(full, grant)),
        (
            "  model_dump(mode=json, exclude unset/none)",
            lambda: restrict(full, grant).model_dump(
                mode="json", exclude_unset=True, exclude_none=True
            ),
        ),
        ("  views.cut(dump, tree)", lambda: cut(dump, tree)),
        ("  convert.dict_to_request(cut)", lambda: dict_to_request(shown)),
        (
            "  RTBRequest(bid_request=…).SerializeToString()",
            lambda: artf_pb2.RTBRequest(bid_request=message).SerializeToString(),
        ),
        ("header: AgentHost._header", lambda: host._header(Stage.BID_REQUEST, spec, "b", 0.005)),
        ("answer: RTBResponse.FromString", lambda: artf_pb2.RTBResponse.FromString(answer)),
        ("answer: proposals_of", lambda: proposals_of(spec.name, response.mutations)),
        (
            "policy: judge_request (the answer's proposals)",
            lambda: judge_request(full, proposals, host._specs, host.config, signals),
        ),
        (
            "reports and mutation counters: _reports",
            lambda: host._reports(Stage.BID_REQUEST, [outcome], change.decisions),
        ),
    ]
    lines = [
        f"CPU per part of one stage ({len(payload)} B view, {len(answer)} B answer, "
        f"{len(proposals)} proposals; µs of this process, each part {_PIECE_CALLS:,}× hot):"
    ]
    for label, part in parts:
        started = time.process_time()
        for _ in range(_PIECE_CALLS):
            part()
        lines.append(f"  {label:<52} {(time.process_time() - started) / _PIECE_CALLS * 1e6:8.1f}")
    awaited: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        (
            f"channel ({host.engine}): the bare unary call (bytes in and out)",
            lambda: channel.call(header + payload, STAGE_TIMEOUT_S),
        ),
        (
            "client: AgentClient.call (+ parse, breaker)",
            lambda: client.call(header + payload, "bench", STAGE_TIMEOUT_S),
        ),
        (
            "host: AgentHost.on_request (the whole stage)",
            lambda: host.on_request(full, signals, "bench", STAGE_TIMEOUT_S),
        ),
    ]
    for label, call in awaited:
        started, main = time.process_time(), time.thread_time()
        for _ in range(_PIECE_CALLS):
            await call()
        cpu_us = (time.process_time() - started) / _PIECE_CALLS * 1e6
        main_us = (time.thread_time() - main) / _PIECE_CALLS * 1e6
        lines.append(f"  {label:<52} {cpu_us:8.1f}  (main thread {main_us:.1f})")
    return "\n".join(lines) + "\n"


async def _profiled(stage: Callable[[int], Awaitable[Any]]) -> str:
    """``PROFILE_CALLS`` stages under cProfile on the main thread's CPU clock (waiting for
    the agent costs nothing there), the top functions by cumulative and by own time."""
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for i in range(PROFILE_CALLS):
        await stage(i)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    return text.getvalue()


def measure_in_process(
    pins: Pinning,
    agents: Agents | None,
    agents_file: Path | None,
    options: Options,
    profile: bool = False,
    engine: str = DEFAULT_ENGINE,
) -> tuple[InProcess, str]:
    """One in-process loop in a child on the server's core: its figures (and profile), with
    the CPU the agent processes spent meanwhile."""
    argv = [*pins.server, sys.executable, "-m", "bench.agents", "--micro"]
    argv += ["--duration", str(options.duration_s), "--warmup", str(options.warmup_s)]
    argv += ["--engine", engine]
    if agents_file is not None:
        argv += ["--agents-file", str(agents_file)]
    if profile:
        argv.append("--profile")
    timeout_s = options.warmup_s + options.duration_s + 120.0
    k = len(load_agents(agents_file).agents) if agents_file is not None else 0
    agents_before = agents.cpu_s(k) if agents is not None else 0.0
    with spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env()) as child:
        out, err = child.communicate(timeout=timeout_s)
    agents_cpu = agents.cpu_s(k) - agents_before if agents is not None else 0.0
    if child.returncode != 0:
        raise RuntimeError(f"in-process loop failed ({child.returncode}):\n{err.decode()[-3000:]}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    measured = InProcess(**data["result"])
    if k and measured.stages_run:
        measured = replace(measured, agent_us_per_call=agents_cpu / measured.stages_run / k * 1e6)
    if measured.agents and not measured.applied:
        raise RuntimeError(
            f"in process, {measured.agents} agent(s): no mutation applied "
            f"(calls {measured.outcomes}, decisions {measured.decisions})"
        )
    return measured, data.get("profile", "")


# -- 2. the whole exchange over HTTP --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeRun:
    """One load run of ``rtb serve`` with ``agents`` agents on the bid-request stage."""

    agents: int
    role: str
    """``sequential`` (closed loop, 1 connection), ``saturation`` (closed loop,
    ``CLOSED_CONNECTIONS``) or ``open`` (open loop at the rate shared by every run)."""
    result: LoadResult
    counters: Counters
    """The exchange's counters over the run, warm-up included."""
    agents_cpu_s: float = 0.0
    """CPU the agent processes spent over the same span."""
    span_s: float = 0.0
    """Wall time of the whole load run (warm-up, window, the generator's start and end)."""

    @property
    def label(self) -> str:
        return "no agents" if not self.agents else f"{self.agents} agent{'s' * (self.agents > 1)}"

    @property
    def auctions(self) -> float:
        return self.counters.total("rtb_auction_requests_total")

    @property
    def calls(self) -> dict[str, float]:
        return {k: v for k, v in self.counters.by("rtb_agent_calls_total", "outcome").items() if v}

    @property
    def mutations(self) -> dict[tuple[str, str], float]:
        """(intent, reason) → proposals over the run."""
        out: dict[tuple[str, str], float] = {}
        for (name, labels), value in self.counters.samples.items():
            if name == "rtb_agent_mutations_total" and value:
                label = dict(labels)
                key = (label.get("intent", ""), label.get("reason", ""))
                out[key] = out.get(key, 0.0) + value
        return out

    @property
    def applied(self) -> float:
        return sum(n for (_, reason), n in self.mutations.items() if reason == "applied")

    @property
    def calls_made(self) -> float:
        """Calls sent (not those skipped: breaker open, no time left)."""
        calls = self.calls
        return sum(calls.values()) - calls.get("breaker_open", 0) - calls.get("no_time", 0)

    @property
    def ok_share(self) -> float:
        total = sum(self.calls.values())
        return self.calls.get("ok", 0) / total if total else 0.0

    @property
    def healthy(self) -> bool:
        """Every auction called every agent and ``HEALTHY_SHARE`` of the calls were ok: the
        run's CPU per call is that of calls made and answered."""
        if not self.agents:
            return True
        enough = self.calls_made >= HEALTHY_SHARE * self.auctions * self.agents
        return enough and self.ok_share >= HEALTHY_SHARE

    @property
    def agent_us_per_call(self) -> float | None:
        made = self.calls_made
        return self.agents_cpu_s / made * 1e6 if made else None

    @property
    def good_share(self) -> float:
        statuses = self.result.statuses
        total = sum(statuses.values())
        return statuses.get("200", 0) / total if total else 0.0

    @property
    def good_rps(self) -> float:
        return self.result.rps * self.good_share

    @property
    def core1_share(self) -> float | None:
        """Core 1 busy over the window: the generator plus the rest (the agents, mostly)."""
        other = self.result.client_core_other
        return None if other is None else self.result.client_cpu_share + other

    @property
    def core1_others(self) -> float | None:
        """Share of core 1 taken by neither the generator nor the agents (their CPU is read
        over the whole run, so this is approximate)."""
        other = self.result.client_core_other
        if other is None or not self.span_s:
            return None
        return max(0.0, other - self.agents_cpu_s / self.span_s)


def _server_env(work: Path, agents_file: Path | None) -> dict[str, str]:
    env = _child_env()
    env.update(SCREEN_OFF)
    env.update(
        RTB_BIDDERS_FILE=str(demo_like().write(work)),
        RTB_STORE="memory",
        RTB_LOG_LEVEL="warning",
    )
    if agents_file is not None:
        env["RTB_AGENTS_FILE"] = str(agents_file)
    return env


@contextlib.contextmanager
def exchange(
    pins: Pinning, work: Path, agents: int, agents_file: Path | None
) -> Iterator[tuple[int, int]]:
    """(pid, port) of ``rtb serve`` on the server's core, probed, until the block ends."""
    command = [*pins.server, _rtb(), "serve", "--host", "127.0.0.1", "--port"]
    log_path = work / f"exchange-{agents}.log"
    with serve_on_free_port(
        lambda port: [*command, str(port)],
        _server_env(work, agents_file),
        log_path,
        f"rtb serve ({agents} agents)",
    ) as (process, port):
        _probe(port, agents, log_path)
        yield process.pid, port


def _post(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", AUCTION_PATH, AGENT_REQUEST, {"content-type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _probe(port: int, agents: int, log_path: Path) -> None:
    """Auctions until one answers 200 with a bid and, with agents, until the exchange counts
    an applied mutation: otherwise the runs would time an error path or an idle agent."""
    deadline = time.monotonic() + _PROBE_TIMEOUT_S
    while True:
        status, body = _post(port)
        bids = []
        if status == 200:
            bids = [b for s in json.loads(body).get("seatbid") or [] for b in s.get("bid", [])]
        counters = scrape(port)
        applied = counters.total("rtb_agent_mutations_total", reason="applied")
        if bids and (not agents or applied):
            break
        if time.monotonic() > deadline:
            calls = counters.by("rtb_agent_calls_total", "outcome")
            raise RuntimeError(
                f"rtb serve with {agents} agents: status {status}, {len(bids)} bids, "
                f"agent calls {calls}, {applied:g} mutations applied after "
                f"{_PROBE_TIMEOUT_S:g} s: {body[:300]!r}\n{tail(log_path)}"
            )
        time.sleep(0.1)
    progress(
        f"rtb serve, {agents} agents: probe OK, winner {bids[0].get('crid')} at "
        f"{bids[0].get('price')} CPM" + (f", {applied:g} mutations applied" if agents else "")
    )


def _timed(
    pins: Pinning,
    server: tuple[int, int],
    body_file: Path,
    agents: int,
    processes: Agents,
    role: str,
    options: Options,
    rate: float | None = None,
) -> ExchangeRun:
    pid, port = server
    before, agents_before = scrape(port), processes.cpu_s(agents)
    started = time.monotonic()
    result = _loadgen(pins, port, body_file, pid, options, rate)
    span_s = time.monotonic() - started
    agents_cpu = processes.cpu_s(agents) - agents_before
    run = ExchangeRun(agents, role, result, scrape(port).minus(before), agents_cpu, span_s)
    if agents and not run.applied and run.calls.get("ok"):
        raise RuntimeError(
            f"rtb serve with {agents} agents ({role}): the agents answered but no mutation "
            f"was applied; agent calls {run.calls}, mutations {run.mutations}"
        )
    return run


def _capacity(runs: Sequence[ExchangeRun], agents: int) -> float:
    """Auctions/s the configuration sustains hearing its agents: the lower of its saturation
    and 1 s ÷ its sequential CPU per auction (a saturation whose agent calls time out or
    are skipped is cheaper than one that hears them)."""
    rates = [r.good_rps for r in runs if r.agents == agents and r.role == "saturation"]
    for r in runs:
        us = r.result.server_us_per_request
        if r.agents == agents and r.role == "sequential" and us:
            rates.append(1e6 / us)
    return min(rates)


def _unheard(run: ExchangeRun) -> str | None:
    """Why ``run`` times agents nobody heard: (next to) no call answered in its deadline."""
    if not run.agents or run.ok_share >= UNHEARD_SHARE:
        return None
    return (
        f"{run.label}, {run.role}: under {UNHEARD_SHARE:.0%} of the agent calls answered "
        f"within their deadline ({_outcomes(run.calls)}), so (next to) no mutation was "
        "applied: its µs/call and latency time calls the auction never waited for"
    )


# -- the section ----------------------------------------------------------------------------


def run(options: Options, counts: Sequence[int] = AGENT_COUNTS) -> Report:
    """Start the agents; the in-process loops, then every exchange configuration."""
    pins = pinning()
    configs = (0, *counts)
    micro = replace(options, duration_s=max(0.3, options.duration_s / 2))
    per_micro_s = micro.warmup_s + micro.duration_s + 2.0
    per_http_s = options.warmup_s + options.duration_s + 1.5
    estimate = len(configs) * (per_micro_s + 3 * per_http_s + 6) + 3
    progress(f"agents: {len(configs)} configurations, about {estimate:.0f} s")
    progress(pins.description)
    context = [*_context(pins, options, micro, max(counts)), _background_load()]
    sequential = replace(options, connections=1)
    saturating = replace(options, connections=CLOSED_CONNECTIONS)
    runs: list[ExchangeRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        work = Path(tmp)
        body_file = work / "request.json"
        body_file.write_bytes(AGENT_REQUEST)
        with reference_agents(max(counts), pins, work) as processes:
            files = {k: _write_agents_file(work, processes.targets[:k]) for k in counts}
            in_process = []
            loops = [(k, DEFAULT_ENGINE) for k in configs] + [(k, "grpcio") for k in counts]
            for k, engine in loops:
                progress(f"in process, {k} agents ({engine}): {micro.duration_s:g} s")
                measured = measure_in_process(pins, processes, files.get(k), micro, engine=engine)
                in_process.append(measured[0])
            for k in configs:
                with exchange(pins, work, k, files.get(k)) as server:
                    progress(f"rtb serve, {k} agents: closed loop, 1 connection")
                    runs.append(
                        _timed(pins, server, body_file, k, processes, "sequential", sequential)
                    )
                    progress(f"rtb serve, {k} agents: closed loop, {CLOSED_CONNECTIONS} conn.")
                    runs.append(
                        _timed(pins, server, body_file, k, processes, "saturation", saturating)
                    )
            rate = OPEN_LOOP_LOAD * min(_capacity(runs, k) for k in configs)
            for k in configs:
                with exchange(pins, work, k, files.get(k)) as server:
                    progress(f"rtb serve, {k} agents: open loop at {rate:,.0f} auctions/s")
                    runs.append(
                        _timed(pins, server, body_file, k, processes, "open", options, rate)
                    )
    return _report(context, in_process, runs)


def _context(pins: Pinning, options: Options, micro: Options, agents: int) -> list[str]:
    return [
        f"CPU pinning: {pins.description} ({os.cpu_count()} CPUs); exchange side = core 0, "
        "reference agents AND load generator share core 1",
        f"agents: python -m agents.reference on {RULES.relative_to(REPO_ROOT)}, {agents} "
        "processes (one port each; k agents = the first k), at the bid_request stage: "
        f"fields {', '.join(FIELDS)}; intents {', '.join(INTENTS)}; segtax {SEGTAX}; "
        f"deadline {DEADLINE_MS} ms; failure_threshold {NO_BREAKER} (a burst of timeouts "
        "opens no breaker: every auction calls every agent)",
        f"request: {len(AGENT_REQUEST):,} B: bench/payloads.py's banner with site.cat IAB17 "
        f"and pmp deal {DEAL_ID} at 1.00 USD (the agent adds segment artf-sports and raises "
        "the floor to 1.50)",
        f"in process: python -m bench.agents --micro (uvloop), {micro.warmup_s:g} s warm-up + "
        f"{micro.duration_s:g} s of AgentHost.on_request back to back (timeout_s "
        f"{STAGE_TIMEOUT_S:g}); baseline: judge_request on zero proposals",
        "exchange: rtb serve (1 worker), bidders file bench.bidders.demo_like (the demo "
        "routers without dayparting and age gates), RTB_STORE=memory, screening off, "
        "RTB_LOG_LEVEL=warning, other RTB_* removed; one process for both closed loops, a "
        "fresh one for the open loop",
        f"load: bench.loadgen, {options.warmup_s:g} s warm-up + {options.duration_s:g} s per "
        f"run; closed loops of 1 connection (sequential) and {CLOSED_CONNECTIONS} "
        f"(saturation); open loop of {options.connections} connections at "
        f"{OPEN_LOOP_LOAD:.0%} of the lowest capacity (the lower of a configuration's saturation "
        "and 1 s ÷ its sequential µs/auction), the same rate for every configuration",
    ]


# -- report ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _us(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _us1(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _loop(run: ExchangeRun) -> str:
    if run.role == "open":
        return f"open {run.result.target_rate or 0:,.0f}/s"
    return f"closed {run.result.connections}"


def _outcomes(counts: Mapping[str, float]) -> str:
    total = sum(counts.values())
    if not total:
        return "–"
    return ", ".join(f"{k} {n / total:.1%}" for k, n in sorted(counts.items(), key=lambda i: -i[1]))


def _decisions(counts: Mapping[tuple[str, str], float], per: float) -> str:
    """``segments applied 1.00, floor conflict 2.00`` … per auction (or per stage)."""
    if not counts or not per:
        return "–"
    items = sorted(counts.items())
    return ", ".join(f"{_SHORT.get(i, i)} {r} {n / per:.2f}" for (i, r), n in items)


def _micro_decisions(m: InProcess) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for key, n in m.decisions.items():
        intent, _, reason = key.partition(" ")
        out[(intent, reason)] = float(n)
    return out


def _micro_table(rows: Sequence[InProcess]) -> Table:
    base = next((m for m in rows if not m.agents), None)
    body = []
    for m in rows:
        body.append(
            [
                m.label,
                f"{m.calls:,}",
                _us1(m.cpu_p50_us),
                _us1(m.cpu_mean_us),
                _us1(m.main_mean_us),
                _us1(m.per_call_us(base)),
                _ms(m.wall_p50_ms),
                _ms(m.wall_p99_ms),
                _ms(m.wall_max_ms),
                _us(m.agent_us_per_call),
                _outcomes(m.outcomes) if m.agents else "–",
                _decisions(_micro_decisions(m), m.calls) if m.agents else "–",
            ]
        )
    return Table(
        "In process: the host side of one bid_request stage (this process on core 0, the "
        "agents on core 1; CPU = time.process_time, every thread of this process; µs/call = "
        "(mean − baseline mean) ÷ agents; agent µs/call = the agent processes' own CPU; "
        "mutations per stage)",
        [
            "stage",
            "stages",
            "CPU p50 µs",
            "CPU mean µs",
            "main thread µs",
            "µs/call",
            "wall p50 ms",
            "wall p99 ms",
            "wall max ms",
            "agent µs/call",
            "agent calls",
            "mutations/stage",
        ],
        body,
    )


def _find(runs: Sequence[ExchangeRun], agents: int, role: str) -> ExchangeRun | None:
    return next((r for r in runs if r.agents == agents and r.role == role), None)


def _per_call(run: ExchangeRun | None, runs: Sequence[ExchangeRun]) -> float | None:
    """(µs/auction with k agents − without, same kind of run) ÷ k."""
    base = _find(runs, 0, run.role) if run is not None else None
    if run is None or base is None or not run.agents:
        return None
    us, floor = run.result.server_us_per_request, base.result.server_us_per_request
    if us is None or floor is None:
        return None
    return (us - floor) / run.agents


def _added(run: ExchangeRun | None, runs: Sequence[ExchangeRun]) -> tuple[float, float] | None:
    """(p50, p99) added with k agents: the open loop's, less the no-agent open loop's."""
    base = _find(runs, 0, "open")
    if run is None or base is None or not run.agents:
        return None
    return run.result.p50_ms - base.result.p50_ms, run.result.p99_ms - base.result.p99_ms


def _ok(run: ExchangeRun | None) -> str:
    if run is None or not run.agents:
        return "–"
    return f"{run.ok_share:.1%}" + ("" if run.healthy else "!")


def _configs(runs: Sequence[ExchangeRun]) -> list[int]:
    return sorted({r.agents for r in runs})


def _cpu_table(runs: Sequence[ExchangeRun]) -> Table:
    rows = []
    for k in _configs(runs):
        seq, sat, ope = (_find(runs, k, role) for role in ("sequential", "saturation", "open"))
        rows.append(
            [
                "no agents" if not k else f"{k} agent{'s' * (k > 1)}",
                _us(seq.result.server_us_per_request if seq else None),
                _us(_per_call(seq, runs)),
                _ok(seq),
                f"{sat.good_rps:,.0f}" if sat else "–",
                _us(sat.result.server_us_per_request if sat else None),
                _us(_per_call(sat, runs)),
                _ok(sat),
                _us(ope.result.server_us_per_request if ope else None),
                _us(_per_call(ope, runs)),
                _ok(ope),
            ]
        )
    return Table(
        "Whole exchange over HTTP: CPU (rtb serve on core 0, user + system of every thread "
        "from /proc, per auction answered; µs/call = (µs/auction with k agents − without, "
        "same loop) ÷ k; ok = agent calls answered ok, '!' = not every auction called every "
        f"agent with ≥ {HEALTHY_SHARE:.0%} ok)",
        [
            "agents",
            "seq µs/auction",
            "seq µs/call",
            "seq ok",
            f"sat (c{CLOSED_CONNECTIONS}) auctions/s",
            "sat µs/auction",
            "sat µs/call",
            "sat ok",
            "open µs/auction",
            "open µs/call",
            "open ok",
        ],
        rows,
    )


def _latency_table(runs: Sequence[ExchangeRun]) -> Table:
    rows = []
    for k in _configs(runs):
        ope = _find(runs, k, "open")
        if ope is None:
            continue
        r = ope.result
        added = _added(ope, runs)
        rows.append(
            [
                ope.label,
                f"{r.target_rate or 0:,.0f}",
                f"{r.rps:,.0f}",
                _ms(r.p50_ms),
                _ms(r.p99_ms),
                _ms(r.p999_ms),
                _ms(r.max_ms),
                _ms(added[0] if added else None),
                _ms(added[1] if added else None),
                _ok(ope),
                f"{ope.good_share:.1%}",
            ]
        )
    return Table(
        "Whole exchange over HTTP: latency in the open loop (the same rate for every "
        "configuration, from each request's due time; added = with agents − without)",
        [
            "agents",
            "rate/s",
            "auctions/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "p50 added ms",
            "p99 added ms",
            "agent calls ok",
            "200s",
        ],
        rows,
    )


def _agents_table(runs: Sequence[ExchangeRun]) -> Table:
    rows = []
    for r in runs:
        if not r.agents:
            continue
        calls = r.calls
        rows.append(
            [
                r.label,
                _loop(r),
                f"{r.auctions:,.0f}",
                f"{sum(calls.values()) / r.auctions:.2f}" if r.auctions else "–",
                _outcomes(calls),
                _decisions(r.mutations, r.auctions),
                _us(r.agent_us_per_call),
                "yes" if r.healthy else "NO",
            ]
        )
    return Table(
        "The exchange's agent counters per run (/metrics, warm-up included): "
        "rtb_agent_calls_total by outcome; rtb_agent_mutations_total per auction by intent "
        "and reason; agent µs/call = the agent processes' CPU per call made; healthy = every "
        f"auction called every agent and ≥ {HEALTHY_SHARE:.0%} of the calls were ok",
        [
            "agents",
            "loop",
            "auctions",
            "calls/auction",
            "calls by outcome",
            "mutations/auction",
            "agent µs/call",
            "healthy",
        ],
        rows,
    )


def _flag(run: ExchangeRun) -> str:
    notes = []
    r = run.result
    if run.core1_share is not None and run.core1_share >= _CORE_BUSY_WARNING:
        notes.append("CORE 1 SATURATED")
    if r.server_core_other is not None and r.server_core_other > _OTHER_LOAD_WARNING:
        notes.append("other load on core 0")
    if run.core1_others is not None and run.core1_others > _OTHER_LOAD_WARNING:
        notes.append("other load on core 1")
    if r.target_rate and r.sent_rps < 0.97 * r.target_rate:
        notes.append("rate not reached")
    if r.unfinished:
        notes.append(f"{r.unfinished} unfinished")
    if run.good_share < 1.0:
        notes.append("not all 200")
    if run.calls.get("timeout"):
        notes.append("agent timeouts")
    if run.calls.get("breaker_open"):
        notes.append("breaker opened")
    return ", ".join(notes)


def _detail(runs: Sequence[ExchangeRun]) -> Table:
    rows = []
    for run in runs:
        r = run.result
        rows.append(
            [
                run.label,
                _loop(run),
                f"{r.rps:,.0f}",
                _ms(r.p50_ms),
                _ms(r.p99_ms),
                _ms(r.max_ms),
                " ".join(f"{k}:{v}" for k, v in sorted(r.statuses.items())),
                f"{r.non_2xx}/{r.errors}",
                _share(r.server_cpu_share),
                _share(r.server_core_other),
                _share(r.client_cpu_share),
                _share(run.core1_share),
                _share(run.core1_others),
                _us(r.server_us_per_request),
                _flag(run),
            ]
        )
    return Table(
        "Every run (CPU shares of one core over the window; core 1 = generator + agents + "
        "others; core-1 others = neither; closed-loop latency runs from the send)",
        [
            "agents",
            "loop",
            "auctions/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "statuses",
            "non-2xx/err",
            "exchange CPU",
            "core-0 others",
            "gen CPU",
            "core 1",
            "core-1 others",
            "µs/auction",
            "note",
        ],
        rows,
    )


def _verdict(
    value: float | None, target: float, run: ExchangeRun | None = None, cpu: bool = False
) -> str:
    """met / NOT MET; for a CPU figure of an unhealthy run (calls skipped or unanswered,
    which only makes them cheaper) only NOT MET is a verdict."""
    if value is None:
        return "–"
    met = value <= target
    if run is None or run.healthy:
        return "met" if met else "NOT MET"
    why = f"unhealthy run: {run.ok_share:.1%} of calls ok"
    if met and cpu:
        return f"not judged ({why})"
    return f"{'met' if met else 'NOT MET'} ({why})"


def _targets_table(in_process: Sequence[InProcess], runs: Sequence[ExchangeRun]) -> Table:
    rows: list[list[str]] = []
    base = next((m for m in in_process if not m.agents), None)
    cpu_target = f"≤ {TARGET_US_PER_CALL:g} µs"
    p99_target = f"≤ {TARGET_ADDED_P99_MS:g} ms"
    for m in in_process:
        if m.agents:
            value = m.per_call_us(base)
            label = f"host CPU per agent call, in process, {m.label}"
            rows.append([label, _us1(value), cpu_target, _verdict(value, TARGET_US_PER_CALL)])
    for role in ("sequential", "saturation", "open"):
        for k in _configs(runs):
            run = _find(runs, k, role)
            if k and run is not None:
                value = _per_call(run, runs)
                label = f"exchange CPU per agent call, {role} ({_loop(run)}), {k} agent(s)"
                verdict = _verdict(value, TARGET_US_PER_CALL, run, cpu=True)
                rows.append([label, _us(value), cpu_target, verdict])
    for m in in_process:
        if m.agents and base is not None:
            value = m.wall_p99_ms - base.wall_p99_ms
            label = f"p99 added, in process (stage wall), {m.label}"
            rows.append([label, _ms(value), p99_target, _verdict(value, TARGET_ADDED_P99_MS)])
    for k in _configs(runs):
        run = _find(runs, k, "open")
        added = _added(run, runs)
        if run is not None and added is not None:
            label = f"p99 added, exchange ({_loop(run)}), {k} agent(s)"
            verdict = _verdict(added[1], TARGET_ADDED_P99_MS, run)
            rows.append([label, _ms(added[1]), p99_target, verdict])
    return Table(
        f"Targets (issue 17): ≤ {TARGET_US_PER_CALL:g} µs exchange CPU per agent call; "
        f"p99 added ≤ the deadline ({DEADLINE_MS} ms) + 1 ms",
        ["figure", "value", "target", "verdict"],
        rows,
    )


def _notes(in_process: Sequence[InProcess], runs: Sequence[ExchangeRun]) -> list[str]:
    notes = []
    for m in in_process:
        failed = {k: v for k, v in m.outcomes.items() if k != "ok"}
        if m.agents and failed:
            notes.append(f"in process, {m.label}: calls not ok: {failed}")
    for run in runs:
        flag = _flag(run)
        if flag:
            notes.append(f"{run.label}, {_loop(run)}: {flag}")
    notes += [
        "The exchange's µs/call also carries what an applied mutation costs once per "
        "auction (exchange.core _request_agents plans the auction again from the mutated "
        "request), divided by k; the in-process rows do not.",
        "CPU per auction depends on the load: at a low rate each request wakes an idle "
        "process (the open loop's µs/auction is well above the closed loops'); compare "
        "figures within a column, never across.",
        "With 3 agents the 3 reference processes share core 1 with the generator: the stage "
        "waits for the slowest, so its wall time includes their queueing there.",
    ]
    return notes


def _report(
    context: list[str], in_process: Sequence[InProcess], runs: Sequence[ExchangeRun]
) -> Report:
    failures = [why for why in map(_unheard, runs) if why is not None]
    return Report(
        "agents",
        context,
        [
            _micro_table(in_process),
            _cpu_table(runs),
            _latency_table(runs),
            _agents_table(runs),
            _targets_table(in_process, runs),
            _detail(runs),
        ],
        _notes(in_process, runs),
        failures,
    )


# -- command line -----------------------------------------------------------------------------


def _profile(options: Options, agents: int, engine: str) -> str:
    """The in-process loop with ``agents`` agents under cProfile: where its time goes."""
    pins = pinning()
    with (
        tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp,
        reference_agents(agents, pins, Path(tmp)) as processes,
    ):
        agents_file = _write_agents_file(Path(tmp), processes.targets)
        measured, profile = measure_in_process(
            pins, processes, agents_file, options, profile=True, engine=engine
        )
    head = (
        f"{measured.label}: {measured.calls:,} stages, CPU mean {measured.cpu_mean_us:.1f} µs "
        f"(main thread {measured.main_mean_us:.1f}), wall p50 {measured.wall_p50_ms:.2f} ms; "
        "then the CPU of each part of one stage, and a cProfile of "
        f"{PROFILE_CALLS:,} more stages on the main thread's CPU clock:\n"
    )
    return head + profile


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.agents``: the section alone; ``--profile``: the in-process loop
    under cProfile; ``--micro``: one in-process loop (the section's child, JSON out)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.agents",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__.split("\n\n", 1)[0],
    )
    parser.add_argument("--duration", type=float, default=8.0, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s before each")
    parser.add_argument("--connections", type=int, default=32, help="open-loop connections")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process loop")
    parser.add_argument("--agents", type=int, default=1, help="agents when profiling")
    parser.add_argument(
        "--engine", choices=("lean", "grpcio"), default=DEFAULT_ENGINE, help="how agents are called"
    )
    parser.add_argument("--micro", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agents-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options = Options(duration_s=args.duration, warmup_s=args.warmup, connections=args.connections)
    if args.micro:
        out = uvloop.run(
            _in_process(args.agents_file, args.warmup, args.duration, args.profile, args.engine)
        )
        print(json.dumps({"result": out["result"], "profile": out.get("profile", "")}))
        return 0
    if args.profile:
        sys.stdout.write(_profile(options, args.agents, args.engine))
        return 0
    report = run(options)
    sys.stdout.write(report.render())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
