"""``python -m bench.serve_app FACTORY --port P``: one uvicorn worker serving an app factory
exactly as ``rtb serve`` serves the exchange.

Every app of the serving and overload sections runs through here, so the references and
the exchange share one server: ``app.http_limits.server_options`` (uvloop, the bounded
httptools protocol that stamps each request's arrival, ``limit_concurrency``, keep-alive,
no access log) with the settings read from the environment, as ``app.cli``'s ``serve``
does. A comparison with stock httptools for the references would credit the exchange's
protocol's own cost to the exchange.
"""

import argparse
from collections.abc import Sequence

import uvicorn

from app.http_limits import server_options
from exchange.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Serve ``factory`` on 127.0.0.1 until SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.serve_app", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("factory", help="module:function returning the ASGI app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    options = server_options(Settings())
    options["timeout_graceful_shutdown"] = 3
    uvicorn.run(args.factory, factory=True, host=args.host, port=args.port, **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
