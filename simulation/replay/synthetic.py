"""Seeded auction logs of one iPinYou-shaped campaign, for tests and examples.

The impressions come from the project's one synthetic iPinYou generator
(``bidding.synthetic_logs``: clicks from the fields and their interactions, market prices
set by floor, exchange, size and domain along the hour of day, diurnal traffic); what the
replay keeps of them is what the compact form carries — click, market price (``payprice``)
and a pCTR — in time order. What this module adds is what makes the replay's comparison
of strategies a test, each a parameter of ``LogSpec``:

* the first ``train_days`` are the training log, the next ``test_days`` the test log
  (iPinYou: 7 and 3), ``rows_per_day`` impressions each, from one world (the same sites,
  slots and advertisers);
* the click probability does not vary with the hour of day unless ``evening_lift`` says so;
* a pCTR from a model (``bidding.synthetic_logs.predicted_ctr``) that sees the true
  click log-odds through noise (``model_noise``) and is calibrated on the training days;
* **days that differ**: each day has its own market price level (lognormal, sd
  ``day_price_sd``) and its own pCTR level (``day_pctr_sd``: the traffic mix moves while
  the model stays the one trained before), and ``test_price_shift``/``test_pctr_shift``
  move the test days as a whole.

With ``day_price_sd = day_pctr_sd = 0`` every day is alike and a strategy tuned on the
training log meets a test log from the same distribution; docs/bidding.md shows both.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bidding.synthetic_logs import LogSpec as FieldSpec
from bidding.synthetic_logs import day_of, generate_log, predicted_ctr
from simulation.replay.logs import AuctionLog, from_arrays

__all__ = ["LogSpec", "SyntheticLogs", "generate", "write_compact"]


@dataclass(frozen=True, slots=True)
class LogSpec:
    """The shape of a campaign's logs (module docstring)."""

    rows_per_day: int = 40_000
    train_days: int = 7
    test_days: int = 3
    ctr: float = 0.002
    model_noise: float = 0.9
    """How much noise the model sees the click log-odds through (0: a perfect model)."""
    evening_lift: float = 0.0
    """The generator's mobile × evening click lift (log-odds; its own logs: 0.9). Off by
    default: a CTR that varies with the hour of day costs the project's strategy, which
    paces evenly along the traffic, 3–4 % of the optimum (docs/bidding.md)."""
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


def generate(spec: LogSpec, seed: int) -> SyntheticLogs:
    """A training log (the first ``train_days``) and a test log (the next ``test_days``)."""
    rng = np.random.default_rng(seed)
    days = spec.train_days + spec.test_days
    testing = np.arange(days) >= spec.train_days
    day_price = np.where(testing, spec.test_price_shift, 1.0)
    day_price *= np.exp(spec.day_price_sd * rng.standard_normal(days))
    day_pctr = np.where(testing, spec.test_pctr_shift, 1.0)
    day_pctr *= np.exp(spec.day_pctr_sd * rng.standard_normal(days))
    fields = FieldSpec(
        rows=spec.rows_per_day * days,
        ctr=spec.ctr,
        days=float(days),
        evening_lift=spec.evening_lift,
    )
    columns = generate_log(fields, rng, day_price=day_price)
    day = day_of(columns)
    train = day < spec.train_days
    pctr = predicted_ctr(columns["p_click"], spec.model_noise, rng, fitted_on=train)
    pctr = np.minimum(pctr * day_pctr[day], 1.0)

    def log(rows: NDArray[np.bool_], name: str) -> AuctionLog:
        source = f"synthetic-{name}(seed {seed})"
        return from_arrays(columns["click"][rows], columns["payprice"][rows], pctr[rows], source)

    return SyntheticLogs(log(train, "train"), log(~train, "test"), columns["p_click"][~train])


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
