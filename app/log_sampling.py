"""A rate-limited log: at most ``per_second`` lines a second for each key, and the count of
the lines it held back written on the next line of that key.

Rejected requests and notices are logged one line each so that an operator can see why an
SSP's traffic is refused, but a flood of them (a broken integration, a forger) must not
flood the log or cost the loop a write per request: past the budget a line costs a
dictionary lookup and two integer additions. Windows are whole seconds of the monotonic
clock; a key's first line in a window carries ``suppressed=N``, what the previous windows
held back since that key's last line (also counted in ``rtb_log_lines_suppressed_total``).
"""

import time
from collections.abc import Callable
from typing import Any, Final

import structlog

OTHER_KEY: Final = "other"
"""Where keys beyond ``max_keys`` share one budget (keys come from bounded sets; this bounds
the memory even if one does not)."""


class _Window:
    __slots__ = ("second", "suppressed", "written")

    def __init__(self, second: int) -> None:
        self.second = second
        self.written = 0
        self.suppressed = 0


class SampledLog:
    """Writes ``event`` lines through ``logger`` within a per-key budget."""

    def __init__(
        self,
        logger: Any,
        per_second: int = 10,
        *,
        max_keys: int = 256,
        on_suppressed: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._per_second = per_second
        self._max_keys = max_keys
        self._on_suppressed = on_suppressed
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def write(self, key: str, event: str, level: str = "info", **fields: Any) -> bool:
        """Log ``event`` with ``fields`` unless ``key`` spent its budget this second; True
        if the line was written."""
        second = int(self._clock())
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_keys:
                key = OTHER_KEY
                window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(second)
        if window.second != second:
            window.second = second
            window.written = 0
        if window.written >= self._per_second:
            window.suppressed += 1
            if self._on_suppressed is not None:
                self._on_suppressed(event)
            return False
        window.written += 1
        if window.suppressed:
            fields["suppressed"] = window.suppressed
            window.suppressed = 0
        getattr(self._logger, level)(event, **fields)
        return True


def sampled(name: str, per_second: int, on_suppressed: Callable[[str], None]) -> SampledLog:
    """A ``SampledLog`` writing through the structlog logger ``name``."""
    return SampledLog(structlog.get_logger(name), per_second, on_suppressed=on_suppressed)
