"""The agents section, run tiny: its request and agents file, and a report with every row.

No timing is asserted (the figures of a 0.3 s run on a shared machine mean nothing); what is
checked is that each piece ran — the reference agents answered, the exchange applied their
mutations, every table has its rows — and that the numbers are there and positive.
"""

import re

import orjson
import pytest

from agents.config import Stage, parse_agents
from bench import agents as section
from bench.section import Options, Report, Table

AGENTS = 2
"""More than one, so the stage's concurrent path (and the policy's conflicts) runs."""


def test_the_request_is_the_one_the_demo_rules_mutate() -> None:
    request = orjson.loads(section.AGENT_REQUEST)
    assert request["site"]["cat"] == ["IAB17"]
    assert request["imp"][0]["pmp"]["deals"] == [
        {"id": "pmp-1", "bidfloor": 1.0, "bidfloorcur": "USD"}
    ]
    assert request == section.agent_request()


def test_the_agents_file_parses_as_the_exchange_reads_it() -> None:
    spec = section.agents_spec(["127.0.0.1:50061", "127.0.0.1:50062"])
    config = parse_agents(orjson.dumps(spec), "bench")
    assert [agent.name for agent in config.at(Stage.BID_REQUEST)] == ["ref-1", "ref-2"]
    agent = config.agents[0]
    assert agent.fields == ("site", "app", "device.geo", "imp.banner", "imp.pmp")
    assert agent.intents == {"ACTIVATE_SEGMENTS", "ADJUST_DEAL_FLOOR"}
    assert (agent.deadline_ms, agent.segtax, config.allowed_segtax) == (5, 4, frozenset({4}))


@pytest.fixture(scope="module")
def report() -> Report:
    options = Options(duration_s=0.3, warmup_s=0.1, connections=4)
    return section.run(options, counts=(AGENTS,))


def table(report: Report, starts: str) -> Table:
    found = [t for t in report.tables if t.title.startswith(starts)]
    assert len(found) == 1, [t.title for t in report.tables]
    return found[0]


def rows(t: Table) -> dict[str, list[str]]:
    return {row[0]: list(row) for row in t.rows}


def number(cell: str) -> float:
    assert re.fullmatch(r"-?[\d,]+(\.\d+)?", cell), cell
    return float(cell.replace(",", ""))


def column(t: Table, name: str) -> int:
    return list(t.header).index(name)


def test_the_in_process_loop_has_a_baseline_and_the_agents(report: Report) -> None:
    t = table(report, "In process")
    by = rows(t)
    engines = [f"{AGENTS} agents, lean", f"{AGENTS} agents, grpcio"]  # side by side
    assert list(by) == ["baseline: no call", *engines]
    for row in by.values():
        assert number(row[column(t, "stages")]) > 0
        assert number(row[column(t, "CPU mean µs")]) > 0
    for engine in engines:
        agents = by[engine]
        assert number(agents[column(t, "µs/call")]) > 0
        assert number(agents[column(t, "wall p50 ms")]) > 0
        assert number(agents[column(t, "agent µs/call")]) > 0
        assert "ok" in agents[column(t, "agent calls")]
        assert "segments applied" in agents[column(t, "mutations/stage")]


def test_the_exchange_rows_have_cpu_and_latency(report: Report) -> None:
    cpu = table(report, "Whole exchange over HTTP: CPU")
    by = rows(cpu)
    assert list(by) == ["no agents", f"{AGENTS} agents"]
    for row in by.values():
        for name in ("seq µs/auction", "sat µs/auction", "open µs/auction"):
            assert number(row[column(cpu, name)]) > 0
    for name in ("seq µs/call", "sat µs/call", "open µs/call"):
        number(by[f"{AGENTS} agents"][column(cpu, name)])  # a figure, whatever its sign
    latency = table(report, "Whole exchange over HTTP: latency")
    by = rows(latency)
    assert list(by) == ["no agents", f"{AGENTS} agents"]
    rates = {row[column(latency, "rate/s")] for row in by.values()}
    assert len(rates) == 1
    assert number(rates.pop()) > 0
    for row in by.values():
        assert number(row[column(latency, "p99 ms")]) > 0
    number(by[f"{AGENTS} agents"][column(latency, "p99 added ms")])


def test_the_exchange_counted_agent_calls_and_mutations(report: Report) -> None:
    t = table(report, "The exchange's agent counters")
    loops = [row[column(t, "loop")] for row in t.rows]
    assert loops[:2] == ["closed 1", "closed 8"]
    assert loops[2].startswith("open ")
    for row in t.rows:
        assert number(row[column(t, "auctions")]) > 0
        assert number(row[column(t, "calls/auction")]) > 0
    sequential = t.rows[0]
    assert "ok" in sequential[column(t, "calls by outcome")]
    assert "applied" in sequential[column(t, "mutations/auction")]


def test_every_target_has_a_verdict(report: Report) -> None:
    t = table(report, "Targets")
    figures = [row[0] for row in t.rows]
    assert sum("CPU per agent call" in f for f in figures) == 5  # 2 in process + 3 loops
    assert sum("p99 added" in f for f in figures) == 3  # 2 in process + the open loop
    for row in t.rows:
        assert row[column(t, "verdict")].startswith(("met", "NOT MET", "not judged")), row


def test_every_run_is_listed(report: Report) -> None:
    t = table(report, "Every run")
    assert len(t.rows) == 2 * 3  # two configurations × sequential, saturation, open
    for row in t.rows:
        assert number(row[column(t, "auctions/s")]) > 0
        assert number(row[column(t, "µs/auction")]) > 0
    assert "== agents ==" in report.render()
