"""Known crawlers, spiders and HTTP libraries by user agent (no-bid reason 3).

The patterns are crawlerdetect's (the Python port of JayBizzle/Crawler-Detect, a list
kept up to date and released regularly): over a thousand crawler patterns and an
exclusion list that strips browser tokens first. Matching one user agent against them costs
~0.1–0.3 ms, far over the screen's budget, so each verdict is kept in a bounded table:
real traffic repeats few distinct user agents, and a new one pays the match once.

A flood of never-seen agents would make every request pay it, so matches are rationed:
at most ``max_matches_per_s`` a second (default 200, ~0.1 s of CPU). An agent met beyond
that is not called a crawler this time and not cached, so it is matched when it comes again
with the ration not spent; ``skipped`` counts them.
"""

import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Final

from crawlerdetect import CrawlerDetect

DEFAULT_CACHE_SIZE: Final = 65_536
DEFAULT_MATCHES_PER_S: Final = 200


class CrawlerList:
    """Says whether a user agent is a known crawler, and which one."""

    def __init__(
        self,
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_matches_per_s: int = DEFAULT_MATCHES_PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._detect = CrawlerDetect()
        self._seen: dict[str, str] = {}
        self._cache_size = cache_size
        self._ration = max_matches_per_s
        self._clock = clock
        self._second = int(clock())
        self._matched = 0
        self.skipped = 0
        """Never-seen agents passed unmatched because the second's ration was spent."""
        self.version = version("crawlerdetect")
        """The pattern list's release (crawlerdetect's version), for the docs and logs."""
        self._detect.is_crawler("warm-up")  # compiles the patterns now, not in an auction

    def crawler(self, user_agent: str) -> str | None:
        """The matched crawler token (e.g. ``Googlebot``), or None for a browser."""
        found = self._seen.get(user_agent)
        if found is None:
            second = int(self._clock())
            if second != self._second:
                self._second, self._matched = second, 0
            if self._matched >= self._ration:
                self.skipped += 1
                return None
            self._matched += 1
            found = self._match(user_agent)
            if len(self._seen) >= self._cache_size:
                self._seen.clear()  # bounded: a flood of unique agents costs matches only
            self._seen[user_agent] = found
        return found or None

    def _match(self, user_agent: str) -> str:
        if not self._detect.is_crawler(user_agent):
            return ""
        return self._detect.get_matches() or "crawler"
