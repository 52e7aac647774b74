"""``python -m agents.reference --listen HOST:PORT --rules FILE [--service NAME ...]``.

Prints ``listening on HOST:PORT`` on stdout once it accepts calls (``--listen
127.0.0.1:0`` picks a free port and prints it); logs JSON lines on stderr; stops cleanly on
SIGTERM or SIGINT. Exit status: 0 after a clean stop, 1 when it cannot listen, 2 for a bad
argument or rules file (the message names the rule and field).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.reference.server import DEFAULT_SERVICES, run


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the agent; the process's exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.reference",
        description="The reference ARTF agent (RTBExtensionPoint.GetMutations over gRPC).",
    )
    parser.add_argument("--listen", default="127.0.0.1:50061", help="HOST:PORT (port 0: any)")
    parser.add_argument("--rules", type=Path, required=True, help="the JSON rules file")
    parser.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="a full service name to serve under; repeatable (default: both "
        + " and ".join(DEFAULT_SERVICES)
        + ")",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    return run(args.rules, args.listen, args.service or DEFAULT_SERVICES, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
