"""Shared fixtures: a real Redis for the tests that need one; a heap like a server's.

Redis is used for real, never mocked. ``REDIS_URL`` (default redis://127.0.0.1:6379/0) is
tried first; if nothing answers there and a ``redis-server`` binary exists, a throwaway one is
started on a free port for the session; otherwise the run stops with a message saying how
to get one. Every test gets its own key prefix and its keys are deleted afterwards, so the
suite can share a Redis with other users.

The exchange's tests run servers in threads of the test process, whose heap holds every
library and test module: a full collection of it stalls every thread for as long as a few
auction deadlines (docs/decisions.md, "A frozen heap in the test process"). ``rtb serve``
freezes its start-up heap (``app.main``), and so does the test process: after collection
and at each test module.
"""

import gc
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from budget.memory import MemoryStore
from budget.redis_store import RedisStore
from budget.store import CounterStore
from tests.redis_keys import delete_prefixed
from tests.servers import free_port

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
NO_REDIS = """No Redis server reachable at {url} and no `redis-server` binary to start one.
Install Redis (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`)
or point REDIS_URL at a running server, then run `make test` again."""


def _answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _freeze_heap() -> None:
    """What lives now is out of the collector's view from here on (as ``app.main`` does)."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_heap()


@pytest.fixture(scope="module", autouse=True)
def heap_frozen_per_module() -> None:
    """The previous module's leftovers (its fixtures are gone by now) collected once, and the
    rest frozen, so the collector never scans the whole session's heap."""
    _freeze_heap()


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's exchange keeps its machine state (spool, ledger epoch) apart."""
    path = tmp_path / "state"
    monkeypatch.setenv("RTB_STATE_DIR", str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def compiled_models() -> None:
    """The shipped models compiled once, before any test: a cold cache costs seconds, and
    servers that must start within a deadline then load the library in milliseconds."""
    from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, load_models

    load_models(DEFAULT_MODEL_DIR, FALLBACK_RATES)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis that answers: the configured one, or a throwaway server."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    if _answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.exit(NO_REDIS.format(url=url), returncode=3)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not _answers(url):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.exit(f"redis-server at {binary} did not start on port {port}", returncode=3)
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted when the test ends."""
    prefix = f"rtb-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefixed(redis_url, prefix)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client for the test's own checks, closed afterwards."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    """Each counter store backend in turn: the in-memory one and real Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore.from_url(request.getfixturevalue("redis_url"), timeout_s=1.0)
    try:
        yield redis_store
    finally:
        await redis_store.aclose()
