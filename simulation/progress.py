"""Progress of a long simulation on stderr: a tqdm bar fed by absolute counts."""

import sys

from tqdm import tqdm


class Progress:
    """``label  42%|████▏     | 105,000/250,000 [00:31<00:43, 3.4kreq/s, 12 13:05 UTC]``.

    The callers count requests themselves and report every thousandth, so ``update`` takes
    the count done so far (not an increment); the bar closes when everything is done.
    """

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self._total = max(1, total)
        self._bar = tqdm(
            total=self._total,
            desc=label,
            unit="req",
            unit_scale=True,
            file=sys.stderr,
            disable=not enabled,
            mininterval=0.5,
            dynamic_ncols=True,
        )

    def update(self, done: int, note: str = "") -> None:
        """Show ``done`` of the total (and ``note``, e.g. the simulated time)."""
        bar = self._bar
        if bar.disable:
            return
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.update(min(done, self._total) - bar.n)
        if bar.n >= self._total:
            bar.close()
