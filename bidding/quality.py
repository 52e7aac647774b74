"""The quality bar a trained model must clear to be written by ``rtb train`` or served.

A booster that early stopping cut to a tree or two, or one trained on too few positives,
predicts about the base rate for everyone: AUC 0.500, and bids that ignore the impression.
Nothing fails loudly — the exchange keeps bidding, on noise. So the trainer measures the
model on the held-out (latest) part against the constant predictor at the training base
rate, stores those figures in the booster (``rtb_held_out``) and in the meta JSON, and
refuses to write a model that does not beat the constant; the exchange checks the same
figures again when it loads a file (start-up or hot reload), since a file can come from
anywhere.
"""

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Final

__all__ = ["HELD_OUT_ATTR", "SERVING_BAR", "HeldOut", "QualityBar"]

HELD_OUT_ATTR: Final = "rtb_held_out"
"""The booster attribute holding ``HeldOut`` as JSON."""


@dataclass(frozen=True, slots=True)
class HeldOut:
    """How a model did on the held-out part, next to the constant predictor."""

    rows: int
    positives: int
    train_base_rate: float
    """The label's rate on the rows the model was fit on: what the constant predicts."""
    log_loss: float
    constant_log_loss: float
    """Log loss on the held-out rows of predicting ``train_base_rate`` for every row."""
    auc: float
    """NaN when the held-out part has a single class."""

    def to_json(self) -> dict[str, Any]:
        """The figures with NaN as null (JSON has no NaN)."""
        return {
            k: None if isinstance(v, float) and math.isnan(v) else v
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_json(cls, text: str) -> "HeldOut":
        """Parse the booster attribute; ValueError naming what is wrong."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{HELD_OUT_ATTR} is not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{HELD_OUT_ATTR} is not a JSON object")

        def number(name: str) -> float:
            value = data[name]
            return math.nan if value is None else float(value)

        try:
            return cls(
                rows=int(data["rows"]),
                positives=int(data["positives"]),
                train_base_rate=number("train_base_rate"),
                log_loss=number("log_loss"),
                constant_log_loss=number("constant_log_loss"),
                auc=number("auc"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{HELD_OUT_ATTR}: missing or malformed figure ({exc!r})") from exc


@dataclass(frozen=True, slots=True)
class QualityBar:
    """What a model must show: trees, a held-out log loss below the constant's, an AUC."""

    min_trees: int = 10
    min_auc: float = 0.52

    def problems(self, trees: int, held_out: HeldOut | None) -> list[str]:
        """Every way the model misses the bar (empty when it clears it). Without figures
        (a file written before they were stored) only the tree count can be checked."""
        found: list[str] = []
        if trees < self.min_trees:
            found.append(
                f"{trees} tree{'' if trees == 1 else 's'}, fewer than the minimum {self.min_trees}"
            )
        if held_out is None:
            return found
        if not held_out.log_loss < held_out.constant_log_loss:
            found.append(
                f"held-out log loss {held_out.log_loss:.5f} is not below the constant "
                f"predictor's {held_out.constant_log_loss:.5f} (training base rate "
                f"{held_out.train_base_rate:.4%})"
            )
        if math.isnan(held_out.auc):
            found.append(
                f"held-out AUC undefined ({held_out.positives:,} positives in "
                f"{held_out.rows:,} rows)"
            )
        elif held_out.auc < self.min_auc:
            found.append(f"held-out AUC {held_out.auc:.4f} is below the minimum {self.min_auc}")
        return found


SERVING_BAR: Final = QualityBar()
"""The bar the exchange applies when it loads a model file (the training defaults)."""
