"""Notices that arrive while the store cannot settle them, kept on disk until it can.

A win or billing notice is usually a tracking pixel: nobody retries it. If the store is down
(or its ledger lost) when it arrives, answering 503 would lose the charge for good. So the
notice's token goes to a spool — an append-only file of this process — and the answer is
``202`` with ``x-notice-result: queued`` once the record is on disk. When the store answers
again (and its ledger is in place), the spool is drained through the same notice handling:
every notice settles exactly once, since settling is idempotent per impression and per
notice; a notice replayed later finds its markers and is a duplicate.

Durability: each record is written and ``fsync``-ed before its notice is answered; notices
arriving while an fsync runs share the next one (group commit), so a burst costs one fsync
per batch, not per notice. A crash loses nothing answered ``queued``; a crash while
draining leaves the segment to be drained again (its settled notices are then duplicates).

Files: ``<dir>/notices-<host>-<pid>-<start>-<n>.spool``, one JSON array per line
(kind, token, received-at seconds). A process writes only its own segment (held under an
exclusive ``flock``); it drains its closed segments and those of processes that are gone
(an orphan is taken under ``flock`` too, so two processes never drain one file at once).
The spool is bounded (``max_bytes``); beyond it a notice is refused with 503.
"""

import asyncio
import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import orjson
import structlog

from exchange.notice_token import NoticeKind

log = structlog.get_logger("exchange.notice_spool")

__all__ = ["NoticeSpool", "SpoolFull", "SpooledNotice", "drain_forever"]

_SUFFIX: Final = ".spool"

SpooledNotice = tuple[NoticeKind, str, float]
"""(kind, token, when it was received in epoch seconds)."""


class SpoolFull(RuntimeError):
    """The spool reached its bound (or its disk failed): the notice cannot be kept."""


class NoticeSpool:
    """One process's spool directory: append with group commit, drain when allowed."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self.rejected = 0
        """Records whose token did not verify (another secret?): kept aside, not settled."""
        self._prefix = f"notices-{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}"
        self._sequence = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._records_in_segment = 0
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._bytes = 0
        self._draining = asyncio.Lock()
        self._segment_lock = asyncio.Lock()
        """Held while the writer uses the segment's descriptor, so it is never closed under a
        write in progress."""

    @property
    def size_bytes(self) -> int:
        """Bytes in the spool files this process knows of (its own and drained orphans)."""
        return self._bytes

    def start(self) -> None:
        """Create the directory, count what is there, start the writer."""
        self._dir.mkdir(parents=True, exist_ok=True)
        self._bytes = sum(p.stat().st_size for p in self._dir.glob(f"*{_SUFFIX}"))
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def append(self, kind: NoticeKind, token: str, received_at_s: float) -> None:
        """Keep one notice; returns once it is on disk. SpoolFull when it cannot be kept."""
        if self._writer is None:  # never started: the first notice starts the writer, never
            self.start()  # waits for ever for one that does not exist
        record = orjson.dumps([kind.value, token, received_at_s]) + b"\n"
        if self._bytes + len(record) > self._max_bytes:
            raise SpoolFull(f"notice spool holds {self._bytes} bytes (limit {self._max_bytes})")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._bytes += len(record)
        self._pending.append((record, done))
        self._wake.set()
        await done

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                async with self._segment_lock:
                    fd = self._segment()
                    await asyncio.to_thread(_write_and_sync, fd, b"".join(r for r, _ in batch))
                    self._records_in_segment += len(batch)
            except OSError as exc:
                log.error("notice_spool_write_failed", error=str(exc))
                self._bytes -= sum(len(r) for r, _ in batch)
                for _, done in batch:
                    if not done.done():
                        done.set_exception(SpoolFull(f"notice spool write failed: {exc}"))
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _segment(self) -> int:
        if self._fd is None:
            self._sequence += 1
            self._path = self._dir / f"{self._prefix}-{self._sequence}{_SUFFIX}"
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _sync_directory(self._dir)
            self._records_in_segment = 0
        return self._fd

    async def _close_segment(self) -> None:
        """Close the segment being written, if any record is in it: it can be drained; the
        next notice opens a new one."""
        async with self._segment_lock:
            if self._fd is not None and self._records_in_segment:
                os.close(self._fd)  # also releases its lock
                self._fd = None

    def waiting(self) -> bool:
        """Whether any segment (this process's or another's) holds notices to drain; also
        re-counts the spool's bytes on disk."""
        found = False
        total = 0
        for path in self._dir.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
                total += size
                found = found or (size > 0 and (path != self._path or self._records_in_segment > 0))
        self._bytes = total + sum(len(record) for record, _ in self._pending)
        return found

    async def drain(self, settle: Callable[[SpooledNotice], Awaitable[bool]]) -> int:
        """Settle every spooled notice in turn through ``settle``; a segment is deleted once
        all of it is settled. Stops at the first ``settle`` that raises (the store failed
        again): that segment stays and is drained from its start next time. A notice that
        ``settle`` refuses (False: its token does not verify) is moved to a ``.rejected``
        file beside, for the operator. How many notices were settled."""
        async with self._draining:
            await self._close_segment()
            settled = 0
            for path in sorted(self._dir.glob(f"*{_SUFFIX}")):
                if path == self._path and self._fd is not None:
                    continue  # being written
                settled += await self._drain_file(path, settle)
            return settled

    async def _drain_file(
        self, path: Path, settle: Callable[[SpooledNotice], Awaitable[bool]]
    ) -> int:
        taken = await asyncio.to_thread(_take, path)
        if taken is None:
            return 0  # drained by another process, or its writer is alive
        fd, lines, size = taken
        try:
            settled = 0
            for line in lines:
                notice = _parse(line)
                if notice is None or not await settle(notice):  # raises: keep the file
                    await asyncio.to_thread(self._reject, path, line)
                    continue
                settled += 1
            await asyncio.to_thread(path.unlink, missing_ok=True)
            self._bytes = max(0, self._bytes - size)
            log.info("notice_spool_drained", file=path.name, notices=settled)
            return settled
        finally:
            os.close(fd)

    def _reject(self, path: Path, line: bytes) -> None:
        self.rejected += 1
        log.error("notice_spool_rejected_record", file=path.name)
        rejected = path.with_suffix(".rejected")
        with rejected.open("ab") as file:
            file.write(line + b"\n")
            file.flush()
            os.fsync(file.fileno())

    async def aclose(self) -> None:
        """Stop the writer after what is pending is on disk; close the segment."""
        if self._writer is not None:
            while self._pending:
                self._wake.set()
                await asyncio.sleep(0.01)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._path is not None and not self._records_in_segment:
                self._path.unlink(missing_ok=True)


async def drain_forever(
    spool: NoticeSpool,
    settle: Callable[[SpooledNotice], Awaitable[bool]],
    ready: Callable[[], bool],
    interval_s: float,
) -> None:
    """Every ``interval_s``, while ``ready()`` (the store answers, its ledger is in place),
    drain what the spool holds."""
    while True:
        await asyncio.sleep(interval_s)
        if not ready() or not spool.waiting():
            continue
        try:
            await spool.drain(settle)
        except Exception as exc:  # the store failed again, or a disk error: retry later
            log.warning("notice_spool_drain_stopped", error=str(exc))


def _take(path: Path) -> tuple[int, list[bytes], int] | None:
    """Open and lock a segment for draining: (descriptor holding the lock, its lines, its
    size); None when it is gone or locked by its writer or another drainer."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)  # drained and deleted before we got the lock
        size = os.fstat(fd).st_size
        with os.fdopen(os.dup(fd), "rb") as file:
            lines = file.read().splitlines()
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd, lines, size


def _write_and_sync(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _sync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable too (else a crash may lose the file)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(line: bytes) -> SpooledNotice | None:
    try:
        kind, token, received_at_s = orjson.loads(line)
        return NoticeKind(kind), str(token), float(received_at_s)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
