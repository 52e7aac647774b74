"""Hot reload of the data-centre ranges: replace the file, and the screen follows.

A background task checks the file's size and modification time; when they change it parses
the file in a worker thread (tens of milliseconds for the shipped list, which the event
loop must not lose) and swaps the screen's ranges in one assignment. A file that does not
parse (half-copied, wrong format) or holds no range (caught between its truncation and its
new content, when written in place) never replaces working ranges: it is logged, and read
again on its next change.
"""

import asyncio
from pathlib import Path

import structlog

from fraud.ip_ranges import IpRanges
from fraud.screen import Screen

log = structlog.get_logger("exchange.ranges")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


async def watch_ranges(screen: Screen, path: Path, interval_s: float) -> None:
    """Reload ``screen``'s data-centre ranges from ``path`` whenever it changes, until
    cancelled."""
    seen = _signature(path)
    while True:
        await asyncio.sleep(interval_s)
        now = _signature(path)
        if now is None or now == seen:
            continue
        seen = now
        try:
            ranges = await asyncio.to_thread(IpRanges.load, path)
        except (OSError, ValueError) as exc:
            log.warning("datacenter_ranges_refused", file=str(path), error=str(exc))
            continue
        if ranges.size == 0:
            log.warning("datacenter_ranges_refused", file=str(path), error="no ranges")
            continue
        screen.replace_ranges(ranges)
        log.info("datacenter_ranges_reloaded", file=str(path), spans=ranges.size)
