"""A circuit breaker: stop calling a dependency that keeps failing, probe it after a pause.

Generic on purpose: it guards every external DSP (``exchange.bidders.http``) and will guard the
Redis store, where an open circuit means the in-process bidders stop bidding (no bid is
safer than overspend). It does no I/O and reads time only through the injected clock, so
tests move time by hand.

States::

    CLOSED ──threshold consecutive failures──▶ OPEN ──cool-down elapsed, allow()──▶ HALF_OPEN
       ▲                                        ▲                                      │
       └──────────── probe succeeded ───────────┼──────────── probe failed ────────────┘

In HALF_OPEN exactly one probe call is let through. A probe whose outcome is never recorded
(its caller was cancelled) does not wedge the breaker: after another cool-down the next
``allow()`` lets a new probe through.

``min_failing_s`` makes it open on *sustained* failure only: the threshold-th failure in a
row opens it only if the run of failures has lasted that long. A busy but healthy store
that answers a burst of calls late (a scheduler stall, a GC pause) fails them all within
milliseconds and then answers again; an outage keeps failing.
"""

from collections.abc import Callable
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    """Where the breaker stands; the value is the label used in metrics."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failures; opens at ``threshold``; probes after ``cooldown_s``.

    ``on_change(old, new)`` is called on every transition (metrics, logs); it must not raise.
    """

    __slots__ = (
        "_clock",
        "_cooldown_s",
        "_failing_since",
        "_failures",
        "_min_failing_s",
        "_on_change",
        "_opened_at",
        "_state",
        "threshold",
    )

    def __init__(
        self,
        threshold: int,
        cooldown_s: float,
        clock: Callable[[], float],
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
        *,
        min_failing_s: float = 0.0,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        if cooldown_s <= 0:
            raise ValueError("cooldown_s must be positive")
        if min_failing_s < 0:
            raise ValueError("min_failing_s must not be negative")
        self.threshold = threshold
        self._cooldown_s = cooldown_s
        self._min_failing_s = min_failing_s
        self._failing_since = 0.0
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        """When it last opened, or when the current probe was let through."""

    @property
    def state(self) -> BreakerState:
        """The current state (reading it changes nothing)."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures recorded since the last success."""
        return self._failures

    def allow(self) -> bool:
        """Whether a call may be made now; may move OPEN to HALF_OPEN (the probe)."""
        if self._state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if now - self._opened_at < self._cooldown_s:
            return False
        # Cool-down over: let one probe through (also when a previous probe was lost).
        self._opened_at = now
        self._move(BreakerState.HALF_OPEN)
        return True

    def record_success(self) -> None:
        """A call succeeded: the count resets and a probing breaker closes."""
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A call failed: a failed probe re-opens; the threshold-th failure in a row opens,
        once the run has lasted ``min_failing_s``."""
        now = self._clock()
        if self._failures == 0:
            self._failing_since = now
        self._failures += 1
        sustained = (
            self._failures >= self.threshold and now - self._failing_since >= self._min_failing_s
        )
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and sustained
        ):
            self._opened_at = now
            self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new and self._on_change is not None:
            self._on_change(old, new)
