"""Spool section: what keeping a notice on disk costs, one at a time and in bursts.

Every notice the spool answers ``queued`` is fsync-ed first; notices arriving while an
fsync runs share the next one (group commit). This measures both ends on this machine's
disk: sequential appends (one fsync each) and bursts of concurrent appends.

Run: ``python -m bench --section spool``.
"""

import asyncio
import tempfile
import time
from pathlib import Path

from bench.section import Options, Report, Table, progress
from exchange.notice_spool import NoticeSpool
from exchange.notice_token import NoticeKind

_TOKEN = "x" * 600  # about the size of a notice token
_SEQUENTIAL = 300
_BURSTS = (100, 1_000, 3_000)


async def _measure(directory: Path) -> list[tuple[str, float, float]]:
    spool = NoticeSpool(directory, max_bytes=1 << 32)
    spool.start()
    rows = []
    started = time.perf_counter()
    for _ in range(_SEQUENTIAL):
        await spool.append(NoticeKind.BILLING, _TOKEN, 1.0)
    elapsed = time.perf_counter() - started
    rows.append(
        (f"{_SEQUENTIAL} one at a time", elapsed * 1000 / _SEQUENTIAL, _SEQUENTIAL / elapsed)
    )
    for burst in _BURSTS:
        started = time.perf_counter()
        await asyncio.gather(*(spool.append(NoticeKind.BILLING, _TOKEN, 1.0) for _ in range(burst)))
        elapsed = time.perf_counter() - started
        rows.append((f"{burst:,} at once", elapsed * 1000, burst / elapsed))
    await spool.aclose()
    return rows


def run(options: Options) -> Report:
    """Sequential and burst appends in a temporary directory beside the project."""
    progress("spool: appends with fsync")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as directory:
        rows = asyncio.run(_measure(Path(directory)))
    return Report(
        "notice spool: appends answered only once on disk",
        context=["fsync after each batch (group commit); ~600-byte tokens"],
        tables=[
            Table(
                "appends",
                ["what", "ms (per notice | per burst)", "notices/s"],
                [[label, f"{ms:.2f}", f"{rate:,.0f}"] for label, ms, rate in rows],
            )
        ],
    )
