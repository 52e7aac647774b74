"""Per-bidder QPS limits: a token bucket, so a DSP is never sent more than it agreed to.

A bucket holds at most ``burst`` tokens and refills at ``rate_qps``; each call takes one.
Refill is computed lazily from the injected clock on each ``try_acquire`` (no timer task),
which keeps it a few attribute reads per call on the hot path.
"""

import time
from collections.abc import Callable
from typing import Final

__all__ = ["TokenBucket"]

_ONE: Final = 1.0 - 1e-9
"""A whole token, less float noise: refills summed from clock differences land a hair short."""


class TokenBucket:
    """``rate_qps`` calls per second on average, up to ``burst`` at once; starts full."""

    __slots__ = ("_clock", "_tokens", "_updated_at", "burst", "rate_qps")

    def __init__(
        self, rate_qps: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_qps <= 0 or burst < 1:
            raise ValueError("rate_qps must be positive and burst at least 1")
        self.rate_qps = rate_qps
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._updated_at = clock()

    def try_acquire(self) -> bool:
        """Take one token if there is one; never waits."""
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._updated_at) * self.rate_qps)
        self._updated_at = now
        if tokens < _ONE:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
