"""A model trained on a declared log, with the encoder it was trained with: pCTR for a log.

``rtb train --schema`` writes ``DIR/ctr.ubj`` whose booster carries the fitted encoder
(``bidding.log_encoding``); ``LogModel.load`` reads both back, and ``predict_columns``
scores any rows with the schema's columns — another day of the same log, say, for
``rtb replay`` — encoded exactly as the training rows were.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bidding.log_encoding import LogEncoder, check_columns
from bidding.log_schema import LogSchema
from bidding.models import LogBooster, ModelError

__all__ = ["LogModel"]


@dataclass(frozen=True, slots=True)
class LogModel:
    """A booster over a declared log's features and the encoder that feeds it."""

    booster: LogBooster
    encoder: LogEncoder

    @classmethod
    def load(cls, path: Path) -> "LogModel":
        """Read a model file written by ``rtb train --schema``; ModelError when it is not
        one, or its encoder state does not match its features."""
        booster = LogBooster.load(path)
        try:
            encoder = LogEncoder.from_json(booster.encoding)
        except ValueError as exc:
            raise ModelError(f"{path}: {exc}") from exc
        if encoder.feature_names != booster.feature_names:
            raise ModelError(f"{path}: the stored encoder's features differ from the model's")
        return cls(booster, encoder)

    @property
    def schema(self) -> LogSchema:
        """The schema the model was trained on (what ``bidding.log_table`` should read)."""
        return self.encoder.schema

    def predict_columns(self, columns: dict[str, NDArray[Any]]) -> NDArray[np.float32]:
        """P(label) for every row of ``columns`` (LogTableError naming absent columns)."""
        check_columns(columns, self.encoder.schema)
        return self.booster.predict(self.encoder.matrix(self.encoder.design(columns)))
