"""The day simulation, small: the real exchange path never overspends and paces the day."""

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from app.cli import main
from simulation.config import SimConfig
from simulation.engine import SimResult, simulate
from simulation.measure import campaign_figures
from simulation.report import figures_table, write_report


def check_day(result: SimResult) -> None:
    figures = campaign_figures(result)
    for figure in figures:
        tally = result.stats.campaigns[figure.id]
        assert figure.spent_micros <= figure.budget_micros, figure.id
        assert tally.spend_micros == figure.spent_micros  # notices charged what the store holds
        assert tally.uncharged == 0
    deliverable = [f for f in figures if f.deliverable]
    assert deliverable
    spent = sum(f.spent_micros for f in deliverable)
    assert spent >= 0.8 * sum(f.budget_micros for f in deliverable)
    for figure in deliverable:
        # Paced, not front-loaded: by mid-day the spend is near what the plan asked for.
        tally = result.stats.campaigns[figure.id]
        assert tally.plan is not None
        half = len(tally.slot_spend) // 2
        planned = tally.plan.share(tally.day_start_s + half * 900)
        assert abs(sum(tally.slot_spend[:half]) / figure.budget_micros - planned) < 0.3, figure.id
    assert result.events > result.config.requests  # an auction event each, plus notices


async def test_a_small_day_in_memory(tmp_path: Path) -> None:
    config = SimConfig(requests=5000, campaigns=6, tick_s=60.0, seed=11, progress=False)
    result = await simulate(config)
    check_day(result)
    text = write_report(result, tmp_path, "rtb simulate --requests 5000")
    assert "within ±2% of budget" in text
    report = (tmp_path / "report.md").read_text()
    assert "rtb simulate --requests 5000" in report
    for name in ("cumulative_all", "cumulative_examples", "hourly", "delivery", "slot_error"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
        assert f"({name}.png)" in report


async def test_the_same_seed_gives_the_same_day() -> None:
    """Auction ids, tie-breaks, creative draws and log sampling all come from the seed, so two
    runs agree to the micro; another seed gives another day."""
    config = SimConfig(requests=1500, campaigns=4, tick_s=60.0, seed=3, progress=False)
    first, again = await simulate(config), await simulate(config)
    assert first.final_spend == again.final_spend
    assert figures_table(first) == figures_table(again)
    other = await simulate(SimConfig(requests=1500, campaigns=4, tick_s=60.0, seed=4))
    assert figures_table(other) != figures_table(first)


def _awaits(task: "asyncio.Task[Any]") -> str:
    """What ``task`` waits on, frame by frame down its chain of awaits to the innermost
    future (a task's own ``print_stack`` shows only its outermost coroutine)."""
    lines: list[str] = []
    step: Any = task.get_coro()
    while step is not None:
        frame = getattr(step, "cr_frame", None) or getattr(step, "gi_frame", None)
        if frame is None:  # a future, or an awaitable object without a frame
            lines.append(f"  waits on {type(step).__name__}")
            break
        lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        step = getattr(step, "cr_await", None) or getattr(step, "gi_yieldfrom", None)
    return "\n".join(lines)


def _stacks(first: "asyncio.Task[Any]") -> str:
    """Every task's chain of awaits, ``first``'s first; tasks with the same chain once, with
    their count (the idle notice forwarders' workers filled CI's excerpt before the day's
    task)."""
    seen: dict[str, int] = {}
    for task in [first, *(t for t in asyncio.all_tasks() if t is not first)]:
        chain = _awaits(task)
        seen[chain] = seen.get(chain, 0) + 1
    return "\n".join(f"--- {count} task(s):\n{chain}" for chain, count in seen.items())


async def _or_every_tasks_stack(day: Coroutine[Any, Any, SimResult], limit_s: float) -> SimResult:
    """``day``'s result; a failure carrying every asyncio task's stack if it takes longer
    than ``limit_s`` (this test hung in CI with an idle event loop, and pytest-timeout
    shows only the threads' stacks, which say nothing of what the loop waits for)."""
    task = asyncio.ensure_future(day)
    done, _ = await asyncio.wait({task}, timeout=limit_s)
    if not done:
        stacks = _stacks(task)
        task.cancel()
        pytest.fail(
            f"the day did not end in {limit_s} s; the day's task, then the others:\n{stacks}"
        )
    return task.result()


@pytest.mark.redis
async def test_a_small_day_on_redis_leaves_no_keys(redis_url: str) -> None:
    config = SimConfig(
        requests=4000, campaigns=3, tick_s=60.0, seed=5, progress=False, redis_url=redis_url
    )
    result = await _or_every_tasks_stack(simulate(config), 240.0)
    check_day(result)
    client = Redis.from_url(redis_url)
    try:
        assert result.key_prefix.startswith("rtb-sim:")  # its own keys: other runs may be live
        assert [key async for key in client.scan_iter(match=f"{result.key_prefix}*")] == []
    finally:
        await client.aclose()


@pytest.mark.parametrize("progress", [True, False])
def test_cli_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], progress: bool
) -> None:
    out = tmp_path / "report"
    args = ["simulate", "--requests", "1500", "--campaigns", "3", "--tick", "120"]
    if not progress:
        args.append("--no-progress")
    code = main([*args, "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "campaigns over 100 % of budget: 0" in printed.out
    assert (out / "report.md").exists()
    assert "%|" not in printed.out  # progress never mixes into the report
    if progress:  # tqdm's bars on stderr, both days to the end
        assert "yesterday: 100%|" in printed.err
        assert "today: 100%|" in printed.err
    else:
        assert printed.err == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--requests", "0", "--requests must be > 0"),
        ("--horizon", "-1", "--horizon must be > 0"),
        ("--notice-delay", "-2", "--notice-delay must be ≥ 0"),
        ("--held-weight", "1.5", "--held-weight must be between 0 and 1"),
        ("--day", "12/03/2025", "--day must be an ISO date"),
    ],
)
def test_cli_refuses_nonsense(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", option, value]) == 2
    assert message in capsys.readouterr().err
