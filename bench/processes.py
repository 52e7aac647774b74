"""Child processes of a benchmark: CPU pinning, free ports, CPU accounting, sure cleanup.

Every child starts in its own session (its own process group), so that stopping it kills
whatever it spawned too, and so that a Ctrl-C in the terminal reaches only this process,
whose ``finally`` blocks then stop the children in order instead of leaving orphans.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "Pinning",
    "core_ticks",
    "cpu_seconds",
    "free_port",
    "other_load",
    "pinned_core",
    "pinning",
    "spawn",
    "stop",
    "wait_for_port",
]

_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Pinning:
    """The cores of the server and of the load generator (None: unpinned), and why."""

    server_core: int | None
    loadgen_core: int | None
    description: str
    taskset: str = "taskset"
    nice: tuple[str, ...] = ()
    """A ``nice -n -10`` prefix when allowed: other work on the machine then disturbs the
    figures less (it still runs, with a third of the weight on these two cores)."""

    @property
    def server(self) -> tuple[str, ...]:
        """Command prefix that runs the server on its core."""
        return self._prefix(self.server_core)

    @property
    def loadgen(self) -> tuple[str, ...]:
        """Command prefix that runs a load generator on its core."""
        return self._prefix(self.loadgen_core)

    def _prefix(self, core: int | None) -> tuple[str, ...]:
        return self.nice + (() if core is None else (self.taskset, "-c", str(core)))


def pinning() -> Pinning:
    """Server on core 0, load generator on core 1 with ``taskset`` if both exist; else none.
    ``BENCH_SERVER_CORE=1`` swaps them, for a machine where something else keeps core 0
    busy (another benchmark pinned there): the server then gets a core of its own.

    Unpinned, the two compete for the same cores and the figures mix their costs: the
    description says so, and the report prints it.
    """
    taskset = shutil.which("taskset")
    nice_path = shutil.which("nice")
    nice = (nice_path, "-n", "-10") if nice_path and os.geteuid() == 0 else ()
    priority = ", both at nice -10" if nice else ""
    cores = os.sched_getaffinity(0)
    if taskset is None:
        why = "taskset not found, server and client share cores"
        return Pinning(None, None, f"UNPINNED: {why}{priority}", nice=nice)
    if not {0, 1} <= cores:
        why = f"cores 0 and 1 not both usable (have {sorted(cores)})"
        return Pinning(None, None, f"UNPINNED: {why}{priority}", nice=nice)
    server, loadgen = (1, 0) if os.environ.get("BENCH_SERVER_CORE") == "1" else (0, 1)
    description = f"server on core {server}, load generator on core {loadgen} (taskset){priority}"
    return Pinning(server, loadgen, description, taskset, nice)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (all its threads) from ``/proc``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS_PER_S


def core_ticks() -> dict[int, tuple[int, int]]:
    """Per core, (ticks busy in user, nice and system; all ticks) from ``/proc/stat``.

    Busy excludes irq and softirq: a process's own CPU time (``cpu_seconds``) covers user and
    system only, so the difference between the two is what *other* processes ran there.
    """
    ticks: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in rest.split()[:8]]
        ticks[int(name[3:])] = (values[0] + values[1] + values[2], sum(values))
    return ticks


def other_load(
    core: int | None,
    before: dict[int, tuple[int, int]],
    after: dict[int, tuple[int, int]],
    own_cpu_s: float,
) -> float | None:
    """Share of ``core`` used by anything but the process that spent ``own_cpu_s`` there
    between two ``core_ticks`` samples; None when the process is not pinned to one core."""
    if core is None or core not in before or core not in after:
        return None
    busy = (after[core][0] - before[core][0]) / _CLOCK_TICKS_PER_S
    total = (after[core][1] - before[core][1]) / _CLOCK_TICKS_PER_S
    if total <= 0:
        return None
    return max(0.0, busy - own_cpu_s) / total


def pinned_core(pid: int) -> int | None:
    """The one core ``pid`` may run on, or None if it may run on several."""
    cores = os.sched_getaffinity(pid)
    return next(iter(cores)) if len(cores) == 1 else None


def stop(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace_s``; safe to call twice.

    SIGINT and SIGTERM to this process wait until the group is gone, so a second Ctrl-C
    cannot interrupt the cleanup half-way and leave an orphan behind.
    """
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        _stop(process, grace_s)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    # The leader may be gone while others in its group live on: sweep the group once more.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=5.0)


@contextmanager
def spawn(
    argv: Sequence[str],
    *,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    env: Mapping[str, str] | None = None,
    grace_s: float = 5.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` in a new session for the duration of the block; always stop it after."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop(process, grace_s)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Block until something accepts on 127.0.0.1:``port``; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s:.0f} s")


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` of a log file, for an error message."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def serve_on_free_port(
    argv: Callable[[int], Sequence[str]],
    env: Mapping[str, str],
    log_path: Path,
    label: str,
    attempts: int = 3,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A server started by ``argv(port)`` on a free port, logging to ``log_path``, with its
    port once it listens, until the block ends. A free port can be taken between choosing it
    and binding it: on "address already in use" another is tried."""
    for attempt in range(attempts):
        port = free_port()
        with (
            log_path.open("wb") as log,
            spawn(argv(port), stdout=log, stderr=log, env=env) as process,
        ):
            try:
                wait_for_port(port, process)
            except RuntimeError:
                lost_race = b"address already in use" in log_path.read_bytes().lower()
                if attempt < attempts - 1 and lost_race:
                    continue
                raise RuntimeError(f"{label} did not start:\n{tail(log_path)}") from None
            yield process, port
            return
    raise RuntimeError(f"{label}: no free port after {attempts} attempts")
