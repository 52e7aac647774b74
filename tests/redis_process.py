"""A throwaway redis-server of a test's own, which the test may kill, restart and wipe."""

import shutil
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server")


class RedisProcess:
    """A redis-server on a fixed port. With ``data_dir`` it persists every write to an
    append-only file there (fsync always), as production should run it, so a restart keeps
    the data; ``wipe`` deletes that data while it is stopped (a restart without persistence,
    or a failover to an empty replica)."""

    def __init__(self, binary: str, port: int, data_dir: Path | None = None) -> None:
        self.binary, self.port, self.data_dir = binary, port, data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.data_dir)]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            for _ in range(400):
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.025)
        finally:
            client.close()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill it (no shutdown save: what survives is what was persisted)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def wipe(self) -> None:
        """Delete the persisted data (only while stopped)."""
        assert self.process is None, "stop the server before wiping its data"
        if self.data_dir is not None and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
