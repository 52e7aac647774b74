"""A throwaway 3-node Redis Cluster of a test's own: real ``redis-server --cluster-enabled``
processes on free ports, joined by ``redis-cli --cluster create``, stopped afterwards.

Each node gets its data port and its cluster-bus port from ``free_port`` (the default bus
port, data port + 10,000, may be taken or out of range). Nothing is persisted: the cluster
lives as long as the fixture.
"""

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.exceptions import RedisClusterException

from tests.servers import free_port

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
NODES = 3
_NO_REPLICAS = ("--cluster-replicas", "0", "--cluster-yes")
MISSING = (
    "Redis Cluster tests need the `redis-server` and `redis-cli` binaries "
    "(Debian/Ubuntu: `sudo apt-get install redis-server redis-tools`; macOS: `brew install redis`)"
)


@dataclass
class ClusterProcesses:
    """The nodes of one cluster: their ports and processes."""

    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: list["subprocess.Popen[bytes]"] = field(default_factory=list)

    @property
    def url(self) -> str:
        """One node's URL: a cluster client discovers the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, server: str, cli: str, nodes: int = NODES) -> None:
        taken: set[int] = set()
        for n in range(nodes):
            port, bus = _fresh_port(taken), _fresh_port(taken)
            node_dir = self.directory / f"node-{n}"
            node_dir.mkdir(parents=True)
            self.ports.append(port)
            args = {
                "port": port,
                "cluster-port": bus,
                "bind": "127.0.0.1",
                "cluster-enabled": "yes",
                "cluster-config-file": node_dir / "nodes.conf",
                "dir": node_dir,
                "save": "",
                "appendonly": "no",
            }
            self.processes.append(
                subprocess.Popen(
                    [server, *(item for k, v in args.items() for item in (f"--{k}", str(v)))],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in self.ports:
            _wait_for(lambda port=port: _ask(port, "ping"), f"node on port {port} did not start")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), *_NO_REPLICAS],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=30,
        )
        for port in self.ports:
            _wait_for(
                lambda port=port: "cluster_state:ok" in _ask(port, "cluster", "info"),
                f"node on port {port} never saw the cluster as ok",
            )
        # A cluster client's first view must cover every slot on every node.
        _wait_for(self._every_node_knows_every_slot, "the nodes did not agree on the slots")

    def _every_node_knows_every_slot(self) -> bool:
        for port in self.ports:
            client = SyncRedisCluster(host="127.0.0.1", port=port)
            try:
                if len(client.get_primaries()) != len(self.ports):
                    return False
            finally:
                client.close()
        return True

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes.clear()

    def keys_per_node(self, pattern: str) -> list[list[str]]:
        """The keys matching ``pattern`` that each node holds (asked of each node alone,
        without the cluster's routing)."""
        found = []
        for port in self.ports:
            client = _node(port)
            try:
                found.append(sorted(client.scan_iter(match=pattern, count=1000)))
            finally:
                client.close()
        return found

    def ask_node(self, index: int, *command: str) -> Any:
        """One command on one node alone (e.g. FLUSHALL: a shard that lost its data)."""
        return _ask(self.ports[index], *command)


def _fresh_port(taken: set[int]) -> int:
    while (port := free_port()) in taken:
        pass
    taken.add(port)
    return port


def _node(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True)


def _ask(port: int, *command: str) -> Any:
    client = _node(port)
    try:
        return client.execute_command(*command)
    finally:
        client.close()


def _wait_for(check: Callable[[], Any], message: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except (redis.RedisError, RedisClusterException):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.05)


def point_rtb_at(
    cluster: ClusterProcesses, monkeypatch: pytest.MonkeyPatch, **variables: str
) -> None:
    """The environment an operator sets for ``rtb`` commands (and ``Settings()``) on the
    cluster: ``RTB_STORE``, ``RTB_REDIS_CLUSTER``, ``RTB_REDIS_URL``, plus ``variables``
    (``key_prefix="…"`` sets ``RTB_KEY_PREFIX``)."""
    monkeypatch.setenv("RTB_STORE", "redis")
    monkeypatch.setenv("RTB_REDIS_CLUSTER", "true")
    monkeypatch.setenv("RTB_REDIS_URL", cluster.url)
    for name, value in variables.items():
        monkeypatch.setenv(f"RTB_{name.upper()}", value)


@contextmanager
def running_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcesses]:
    """A 3-node cluster, stopped on exit; the test is skipped where the binaries are missing.

    A module's fixture: ``with running_cluster(tmp_path_factory) as cluster: yield cluster``."""
    if REDIS_SERVER is None or REDIS_CLI is None:
        pytest.skip(MISSING)
    cluster = ClusterProcesses(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start(REDIS_SERVER, REDIS_CLI)
        yield cluster
    finally:
        cluster.stop()
