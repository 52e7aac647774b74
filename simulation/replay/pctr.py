"""Where a replayed log's pCTR comes from: its own column, or a model trained by `rtb train`.

A model directory is read with the project's own loading (``bidding.models.XGBoostModel``:
schema version, feature names and quality bar checked) and scores the log's rows through
the one feature encoder (``bidding.features.encode_columns``), so the pCTR is what the
live router would have predicted for the same inputs. Today's models read the serving
schema's raw columns (``bidding.features.RAW_COLUMNS``: ``ts``, ``country``, ``domain`` …);
a raw iPinYou log names its fields otherwise (``region``, ``slotid`` …), so such a log needs
its ``pctr`` column until models trained on a declared schema exist (issue 15, `rtb train`
on any labelled log). ``model_pctr`` is the one place that will then read that schema.
"""

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bidding.features import NUMERIC_COLUMNS, RAW_COLUMNS, encode_columns
from bidding.models import MODEL_FILES, ModelError, XGBoostModel
from simulation.replay.logs import AuctionLog, LogError

__all__ = ["model_pctr", "with_model_pctr"]


def model_pctr(log: AuctionLog, model_dir: Path) -> NDArray[np.float64]:
    """The CTR model of ``model_dir`` scored on every row of ``log`` (a raw log)."""
    missing = [name for name in RAW_COLUMNS if name not in log.columns]
    if missing:
        # A column the model reads but the log lacks would be scored as missing on every
        # row: a pCTR of nothing, silently. (An iPinYou log shares only `domain`.)
        raise LogError(
            f"{log.source}: the model reads columns the log does not have: "
            f"{', '.join(missing)}; give the log a pctr column (a model trained on this "
            "log's own fields needs `rtb train` with a schema)"
        )
    try:
        model = XGBoostModel.load(model_dir / MODEL_FILES["ctr"], build=None)
    except ModelError as exc:
        raise LogError(str(exc)) from exc
    columns: dict[str, NDArray[Any]] = {}
    for name in RAW_COLUMNS:
        values = log.columns[name]
        if name in NUMERIC_COLUMNS:
            try:
                columns[name] = np.array([float(v) if v else np.nan for v in values])
            except ValueError as exc:
                raise LogError(f"{log.source}: column {name!r}: {exc}") from None
        else:
            columns[name] = np.array([v or None for v in values], dtype=object)
    predicted: NDArray[np.float64] = model.predict(encode_columns(columns)).astype(np.float64)
    return predicted


def with_model_pctr(log: AuctionLog, model_dir: Path | None) -> AuctionLog:
    """``log`` with its pCTR from ``model_dir`` when one is given, else as it is (its own
    column, required)."""
    if model_dir is None:
        log.require_pctr()
        return log
    if not log.columns:
        raise LogError(f"{log.source}: a compact log has no features for a model to score")
    return log.with_pctr(model_pctr(log, model_dir))
