"""The routers' first-price landscapes from the landscape file (``rtb landscapes``).

At start and whenever the file changes (size or modification time, checked every
``RTB_LANDSCAPE_RELOAD_S``), it is read in a worker thread and each router's buckets in it
replace that router's own (``LandscapeBook.refresh``): the fleet's hour of market beats one
process's. Buckets only this process has seen keep learning as they were, and every bucket
goes on learning online from there. A file that does not parse never replaces anything: it
is logged, counted as refused, and read again on its next change.
"""

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import structlog

from bidding.landscape_file import LandscapeFileError, read_landscapes
from bidding.router import CampaignRouter
from bidding.shading import LandscapeBook

log = structlog.get_logger("exchange.landscapes")

OUTCOMES: Final = ("refreshed", "refused")


class LandscapeRefresh:
    """Swaps the landscape file into the routers; ``counts`` by outcome (the metrics)."""

    def __init__(self, path: Path, routers: Sequence[CampaignRouter]) -> None:
        self.path = path
        self._routers = {router.name: router for router in routers}
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.last_error: str | None = None
        self._seen: tuple[int, int] | None = None

    def _signature(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    async def refresh_if_changed(self) -> bool:
        """Read the file again if it changed since the last look; True if swapped in."""
        now = self._signature()
        if now is None or now == self._seen:
            return False
        self._seen = now
        try:
            books = await asyncio.to_thread(read_landscapes, self.path)
        except LandscapeFileError as exc:
            self.counts["refused"] += 1
            self.last_error = str(exc)
            log.warning("landscapes_refused", error=str(exc))
            return False
        if unknown := sorted(set(books) - set(self._routers)):
            log.warning("landscapes_unknown_routers", routers=unknown)
        ours = {name: book for name, book in books.items() if name in self._routers}
        # Merged off the loop (copies of tens of thousands of landscapes), swapped in whole:
        # what a router learns in between is lost, a few milliseconds of it.
        merged = await asyncio.to_thread(self._merged, ours)
        for name, book in merged.items():
            self._routers[name].landscapes = book
        self.counts["refreshed"] += 1
        self.last_error = None
        log.info(
            "landscapes_refreshed",
            file=str(self.path),
            buckets=sum(len(book) for book in ours.values()),
        )
        return True

    def _merged(self, books: dict[str, LandscapeBook]) -> dict[str, LandscapeBook]:
        return {name: self._routers[name].landscapes.merged(book) for name, book in books.items()}

    async def run(self, interval_s: float) -> None:
        """Refresh now, then whenever the file changes, until cancelled."""
        while True:
            try:
                await self.refresh_if_changed()
            except Exception as exc:  # a bug here must not end the refreshes for good
                self.counts["refused"] += 1
                log.error("landscapes_refresh_failed", error=repr(exc))
            await asyncio.sleep(interval_s)
