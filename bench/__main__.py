"""``python -m bench``: run the benchmark sections and print their figures.

Sections are a registry (name → function) so later ones (auction mechanisms, fan-out,
router) add a module and one entry in ``SECTIONS``.
"""

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Final

from bench import (
    agents,
    exchange_fanout,
    fanout,
    loop_turns,
    mechanisms,
    notice_load,
    overload,
    rate_limit,
    router,
    screening,
    serving,
    soak,
    spool,
    store,
    store_node,
)
from bench.section import Options, Section, progress

SECTIONS: Final[dict[str, Section]] = {
    "serving": serving.run,
    "screening": screening.run,
    "rate-limit": rate_limit.run,
    "router": router.run,
    "mechanisms": mechanisms.run,
    "store": store.run,
    "store-node": store_node.run,
    "fanout": fanout.run,
    "exchange-fanout": exchange_fanout.run,
    "agents": agents.run,
    "overload": overload.run,
    "loop-turns": loop_turns.run,
    "notice-load": notice_load.run,
    "spool": spool.run,
    "soak": soak.run,
}


def _parse_args(argv: Sequence[str] | None) -> tuple[list[str], Options]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__,
    )
    parser.add_argument(
        "--section",
        action="append",
        choices=sorted(SECTIONS),
        help="run only this section (repeatable); default: all",
    )
    parser.add_argument("--duration", type=float, default=8.0, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s before each run")
    parser.add_argument("--connections", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--no-wrk", action="store_true", help="do not use wrk even if installed")
    parser.add_argument(
        "--soak-auctions", type=int, default=300_000, help="auctions of the soak section"
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.connections <= 0 or args.soak_auctions <= 0:
        parser.error(
            "--duration, --connections and --soak-auctions must be positive, --warmup non-negative"
        )
    options = Options(
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        use_wrk=not args.no_wrk,
        soak_auctions=args.soak_auctions,
    )
    return args.section or list(SECTIONS), options


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` stops its child processes."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen sections in order; print each report as soon as it is done."""
    names, options = _parse_args(argv)
    # Explicitly: a shell starting us in the background may have left SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGHUP, _exit_on_sigterm)
    failed = []
    try:
        for name in names:
            progress(f"section {name}")
            report = SECTIONS[name](options)
            sys.stdout.write(report.render() + "\n")
            sys.stdout.flush()
            if report.failures:
                failed.append(name)
    except KeyboardInterrupt:
        progress("interrupted; child processes stopped")
        return 130
    if failed:
        progress(f"FAILED sections: {', '.join(failed)} (see FAILED lines in the report)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
