"""The data-centre file's hot reload keeps working ranges when the new file is junk or
empty (a file written in place is empty for a moment between truncation and content)."""

import asyncio
import contextlib
from pathlib import Path

from exchange.ranges_reload import watch_ranges
from fraud.ip_ranges import IpRanges
from fraud.screen import Screen, ScreenConfig


def _write(path: Path, content: str) -> None:
    path.write_text(content)  # in place, as an operator's editor or cp does


async def _settle(path: Path, content: str, screen: Screen, until: int | None = None) -> None:
    """Write ``content``; wait until the screen has ``until`` spans, else a few intervals."""
    _write(path, content)
    for _ in range(500 if until is not None else 30):
        await asyncio.sleep(0.01)
        if until is not None and screen.datacenter_ranges == until:
            return


async def test_junk_and_empty_files_never_replace_working_ranges(tmp_path: Path) -> None:
    path = tmp_path / "ranges.txt"
    _write(path, "192.0.2.0/24 first-host\n")
    screen = Screen(ScreenConfig(), ranges=IpRanges.load(path))
    watcher = asyncio.create_task(watch_ranges(screen, path, 0.005))
    await asyncio.sleep(0.02)  # the watcher has read the first file's signature
    try:
        await _settle(path, "192.0.2.0/24 first-host\n198.51.100.0/24 second-host\n", screen, 2)
        assert screen.datacenter_ranges == 2
        await _settle(path, "", screen)
        assert screen.datacenter_ranges == 2
        await _settle(path, "this is not a CIDR\n", screen)
        assert screen.datacenter_ranges == 2
        await _settle(path, "203.0.113.0/24 third-host\n", screen, 1)
        assert screen.datacenter_ranges == 1
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
