"""Seeded auction logs shaped like one iPinYou campaign's, for tests and examples.

Small on purpose: what the replay needs of a log (click, market price, pCTR, in time order)
with the shapes that decide how strategies compare, each a parameter of ``LogSpec``:

* a true CTR per impression, lognormal around ``ctr`` (0.2 %), and a pCTR from a model that
  sees the same signal through noise (AUC ≈ 0.71) and is calibrated on the training days;
* market prices lognormal around ``price_median_cpm`` (60, in fen as iPinYou's), rounded to
  whole CPMs and capped at 300 as iPinYou's bids were, higher where the CTR is higher
  (``price_signal``) and along the hour of day;
* traffic along a diurnal curve (a night-time trough a sixth of the evening peak);
* **days that differ**: each day has its own market price level (lognormal, sd
  ``day_price_sd``) and its own pCTR level (``day_pctr_sd``: the traffic mix moves while the
  model stays the one trained before), so the test days are not the training days, and
  ``test_price_shift``/``test_pctr_shift`` move the test days as a whole. Training log: the
  first ``train_days``, test log: the next ``test_days`` (iPinYou: 7 and 3).

With ``day_price_sd = day_pctr_sd = 0`` every day is alike and a strategy tuned on the
training log meets a test log from the same distribution; docs/bidding.md shows both.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from simulation.replay.logs import AuctionLog, from_arrays

__all__ = ["LogSpec", "SyntheticLogs", "generate", "write_compact"]

_DIURNAL: Final = (2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5, 5.5, 6, 6, 6, 6, 6, 6, 6.5, 7, 8, 9, 9, 8, 6, 4)
"""Relative traffic per hour of day."""
_MAX_PRICE_CPM: Final = 300


@dataclass(frozen=True, slots=True)
class LogSpec:
    """The shape of a campaign's logs (module docstring)."""

    rows_per_day: int = 40_000
    train_days: int = 7
    test_days: int = 3
    ctr: float = 0.002
    ctr_signal: float = 1.0
    """sd of the log-CTR across impressions."""
    model_noise: float = 0.9
    """How much noise the model sees the signal through (0: a perfect model)."""
    price_median_cpm: float = 60.0
    price_sd: float = 0.55
    price_signal: float = 0.25
    """How much of the log-CTR signal is priced in by the other bidders."""
    hourly_price_swing: float = 0.15
    day_price_sd: float = 0.10
    day_pctr_sd: float = 0.10
    test_price_shift: float = 1.0
    """The test days' market price level over the training days' (beyond each day's own)."""
    test_pctr_shift: float = 1.0
    """The test days' pCTR level over the training days' (beyond each day's own)."""


@dataclass(frozen=True, slots=True)
class SyntheticLogs:
    train: AuctionLog
    test: AuctionLog
    test_true_ctr: NDArray[np.float64]
    """The test impressions' true click probabilities (expected clicks of any choice)."""


def _days(
    spec: LogSpec, days: int, rng: np.random.Generator, price_shift: float, pctr_shift: float
) -> dict[str, NDArray[np.float64]]:
    n = spec.rows_per_day * days
    weights = np.array(_DIURNAL, np.float64)
    hour = np.sort(rng.choice(24, size=(days, spec.rows_per_day), p=weights / weights.sum()))
    day_price = price_shift * np.exp(spec.day_price_sd * rng.standard_normal(days))
    day_pctr = pctr_shift * np.exp(spec.day_pctr_sd * rng.standard_normal(days))
    hour = hour.reshape(n)
    day = np.repeat(np.arange(days), spec.rows_per_day)
    signal = rng.standard_normal(n)
    sigma = spec.ctr_signal
    base = np.log(spec.ctr) - sigma**2 / 2
    true_ctr = np.minimum(np.exp(base + sigma * signal), 1.0)
    click = rng.random(n) < true_ctr
    # The model sees the signal through noise; its pCTR is E[CTR | what it sees].
    r = 1.0 / np.sqrt(1.0 + spec.model_noise**2)
    seen = r * (signal + spec.model_noise * rng.standard_normal(n))
    pctr = np.exp(base + sigma * r * seen + sigma**2 * (1 - r**2) / 2) * day_pctr[day]
    cycle = 1.0 + spec.hourly_price_swing * np.sin((hour - 6) / 24 * 2 * np.pi)
    log_price = np.log(spec.price_median_cpm) + spec.price_signal * sigma * signal
    log_price += spec.price_sd * rng.standard_normal(n)
    price = np.clip(np.round(np.exp(log_price) * cycle * day_price[day]), 1, _MAX_PRICE_CPM)
    return {
        "click": click.astype(np.float64),
        "price": price,
        "pctr": np.minimum(pctr, 1.0),
        "true": true_ctr,
    }


def generate(spec: LogSpec, seed: int) -> SyntheticLogs:
    """A training log (the first ``train_days``) and a test log (the next ``test_days``)."""
    rng = np.random.default_rng(seed)
    train = _days(spec, spec.train_days, rng, 1.0, 1.0)
    test = _days(spec, spec.test_days, rng, spec.test_price_shift, spec.test_pctr_shift)
    return SyntheticLogs(
        from_arrays(train["click"], train["price"], train["pctr"], f"synthetic-train(seed {seed})"),
        from_arrays(test["click"], test["price"], test["pctr"], f"synthetic-test(seed {seed})"),
        test["true"],
    )


def write_compact(log: AuctionLog, path: Path) -> None:
    """``log`` in the compact form (``click market_price pctr``, one line per impression)."""
    pctr = log.require_pctr()
    with path.open("w", encoding="utf-8") as out:
        for click, price, p in zip(
            log.click.tolist(), log.price_cpm_micros.tolist(), pctr.tolist(), strict=True
        ):
            whole, micros = divmod(price, 1_000_000)
            text = f"{whole}" if micros == 0 else f"{whole}.{micros:06d}".rstrip("0")
            out.write(f"{click} {text} {p:.6g}\n")
