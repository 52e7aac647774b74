"""Serving an app over a real socket in a test: uvicorn in a thread on a free port."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from app.http_limits import server_options
from exchange.settings import Settings


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn (uvloop, httptools) in a thread; yield its base URL."""
    options = {"loop": "uvloop", "http": "httptools", "access_log": False, "log_level": "warning"}
    with serve_with(app, **{**options, **config}) as url:
        yield url


@contextmanager
def serve_like_rtb(app: Any, settings: Settings) -> Iterator[str]:
    """Serve ``app`` as ``rtb serve`` would with ``settings``: its protocol class, limits
    and timeouts (``app.http_limits.server_options``)."""
    with serve_with(app, **server_options(settings)) as url:
        yield url


@contextmanager
def serve_with(app: Any, **config: Any) -> Iterator[str]:
    """Run ``app`` with exactly these ``uvicorn.Config`` options in a thread; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", **config)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"test server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
