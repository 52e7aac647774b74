"""A one-line progress bar on stderr (redrawn at most once per percent)."""

import sys
import time


class Progress:
    """``label [#####-----]  42% 105,000/250,000  31 s  note``."""

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self._label = label
        self._total = max(1, total)
        self._enabled = enabled
        self._started = time.monotonic()
        self._shown = -1

    def update(self, done: int, note: str = "") -> None:
        """Show ``done`` of the total; the line ends when everything is done."""
        percent = min(100, 100 * done // self._total)
        if not self._enabled or percent == self._shown:
            return
        self._shown = percent
        bar = "#" * (percent // 4) + "-" * (25 - percent // 4)
        elapsed = time.monotonic() - self._started
        line = f"\r{self._label:<9} [{bar}] {percent:3d}% {done:,}/{self._total:,} {elapsed:4.0f} s"
        sys.stderr.write(f"{line} {note}".rstrip() + ("\n" if percent == 100 else ""))
        sys.stderr.flush()
