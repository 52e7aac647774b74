"""``rtb simulate``: a day of synthetic traffic through the exchange, and its report."""

import argparse
import asyncio
import shlex
import sys
from datetime import date
from pathlib import Path

from budget.pacing_control import ControllerConfig


def add_simulate_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``simulate`` on the ``rtb`` parser."""
    defaults = ControllerConfig()
    sim = commands.add_parser(
        "simulate",
        help="replay a day of synthetic traffic through the exchange and report on pacing",
    )
    sim.add_argument("--requests", type=int, default=120_000, help="requests of the measured day")
    sim.add_argument("--seed", type=int, default=7, help="the world, its traffic and bidding")
    sim.add_argument("--campaigns", type=int, default=50, help="campaigns in the world")
    sim.add_argument(
        "--processes", type=int, default=2, help="exchange processes sharing the store"
    )
    sim.add_argument("--day", default="2025-03-12", help="the campaigns' calendar day (ISO)")
    sim.add_argument(
        "--pacing",
        choices=["shaped", "even", "off"],
        default="shaped",
        help="budget pacing: to yesterday's traffic shape, evenly over the day, or none",
    )
    sim.add_argument("--tick", type=float, default=4.0, help="pacing tick, simulated seconds")
    sim.add_argument(
        "--notice-delay", type=float, default=5.0, help="mean billing-notice delay, seconds"
    )
    sim.add_argument(
        "--horizon",
        type=float,
        default=defaults.horizon_s,
        help="pacing controller: seconds over which a spend error is planned away",
    )
    sim.add_argument(
        "--memory",
        type=float,
        default=defaults.memory_s,
        help="pacing controller: time constant (seconds) of its learned offset",
    )
    sim.add_argument(
        "--held-weight",
        type=float,
        default=defaults.held_weight,
        help="weight of open holds in the spend pacing measures (0: settled spend only)",
    )
    sim.add_argument(
        "--yesterday-requests", type=int, default=None, help="default: half of --requests"
    )
    sim.add_argument("--redis-url", default=None, help="share state through this Redis")
    sim.add_argument(
        "--canary",
        type=Path,
        default=None,
        metavar="FILE",
        help="a canary file (as RTB_CANARY_FILE) rolled out over the day",
    )
    sim.add_argument("--out", type=Path, default=Path("simulation-report"), help="report directory")
    sim.add_argument(
        "--no-progress",
        "--quiet",
        dest="no_progress",
        action="store_true",
        help="no progress bars on stderr",
    )
    sim.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    # Imported here: `rtb serve` should not pay for numpy and matplotlib to parse arguments.
    from simulation.config import SimConfig
    from simulation.engine import simulate
    from simulation.report import write_report

    problem = _problem(args)
    canary = None
    if problem is None and args.canary is not None:
        from exchange.canary_watch import CanaryFileError, load_canary_file

        try:
            canary = load_canary_file(args.canary)
        except CanaryFileError as exc:
            problem = "; ".join(exc.problems)
    if problem:
        print(f"rtb simulate: {problem}", file=sys.stderr)
        return 2
    config = SimConfig(
        canary=canary,
        requests=args.requests,
        seed=args.seed,
        campaigns=args.campaigns,
        processes=args.processes,
        tick_s=args.tick,
        notice_delay_s=args.notice_delay,
        day=args.day,
        pacing=args.pacing,
        controller=ControllerConfig(
            horizon_s=args.horizon,
            memory_s=args.memory,
            held_weight=args.held_weight,
        ),
        redis_url=args.redis_url,
        warmup_requests=args.yesterday_requests,
        progress=not args.no_progress,
    )
    result = asyncio.run(simulate(config))
    text = write_report(result, args.out, _command(args))
    print(text)
    print(f"report: {args.out / 'report.md'}")
    return 0


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, if anything."""
    positive = ("requests", "processes", "campaigns", "tick", "horizon", "memory")
    for option in positive:
        if getattr(args, option) <= 0:
            return f"--{option} must be > 0"
    if not 0 <= args.held_weight <= 1:
        return "--held-weight must be between 0 and 1"
    if args.notice_delay < 0:
        return "--notice-delay must be ≥ 0"
    if args.yesterday_requests is not None and args.yesterday_requests <= 0:
        return "--yesterday-requests must be > 0"
    try:
        date.fromisoformat(args.day)
    except ValueError:
        return f"--day must be an ISO date (YYYY-MM-DD), not {args.day!r}"
    return None


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run, every option spelt out."""
    words = ["rtb", "simulate"]
    for option in (
        "requests",
        "seed",
        "campaigns",
        "processes",
        "day",
        "pacing",
        "tick",
        "notice_delay",
        "horizon",
        "memory",
        "held_weight",
        "yesterday_requests",
        "redis_url",
        "canary",
        "out",
    ):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option.replace('_', '-')}", str(value)]
    return shlex.join(words)
