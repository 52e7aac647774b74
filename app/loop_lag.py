"""The event loop's lag: how late a task that sleeps ``interval_s`` is woken.

Every request waits that long for its turn before the exchange starts on it, and no
per-request figure shows it (the latency histogram does, mixed with everything else). One
task per process, started and stopped with the app's lifespan (``app.lifespan``); a sample
costs one timer and two clock reads.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Final

from exchange.metrics import Metrics

INTERVAL_S: Final = 0.1


class LoopLagMonitor:
    """Samples the lag into ``rtb_event_loop_lag_seconds`` (and ``…_last_seconds``)."""

    def __init__(
        self,
        metrics: Metrics,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._histogram = metrics.loop_lag
        self._last = metrics.loop_lag_last
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.samples = 0

    def start(self) -> None:
        """Start sampling on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag-monitor")

    async def _run(self) -> None:
        clock, interval = self._clock, self._interval_s
        while True:
            before = clock()
            await asyncio.sleep(interval)
            lag = max(0.0, clock() - before - interval)
            self._histogram.observe(lag)
            self._last.set(lag)
            self.samples += 1

    async def aclose(self) -> None:
        """Stop sampling and wait for the task to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
