"""Where a replayed log's pCTR comes from: its own column, or a model trained by `rtb train`.

``model_pctr`` reads which kind of model the directory holds and scores the log's rows as
that model's own pipeline would:

* a model over the **serving schema** (``bidding.features.RAW_COLUMNS``: ``ts``,
  ``country``, ``domain`` …; the profile counts may be absent) is read with the exchange's loading
  (``bidding.models.XGBoostModel``: schema version, feature names, quality bar) and fed by
  the one feature encoder (``bidding.features.encode_columns``): the pCTR the live router
  would have predicted for the same inputs;
* a model over a **declared schema** (``rtb train --input LOG --categorical …``, the log's
  own fields: ``region``, ``slotid`` … of a raw iPinYou log) is read with the encoder it
  was trained with (``bidding.log_model.LogModel``), the log's text cells converted to the
  schema's types by ``bidding.log_table.convert_columns`` as the training rows were.

Either way a column the model reads and the log lacks is a ``LogError`` naming it: scored
as missing on every row it would give a pCTR of nothing, silently.
"""

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bidding.features import NUMERIC_COLUMNS, PROFILE_COLUMNS, RAW_COLUMNS, encode_columns
from bidding.log_model import LogModel
from bidding.log_table import LogTableError, convert_columns
from bidding.models import MODEL_FILES, ModelError, XGBoostModel, is_log_model
from simulation.replay.logs import AuctionLog, LogError

__all__ = ["model_pctr", "with_model_pctr"]


def model_pctr(log: AuctionLog, model_dir: Path) -> NDArray[np.float64]:
    """The CTR model of ``model_dir`` scored on every row of ``log`` (a raw log)."""
    path = model_dir / MODEL_FILES["ctr"]
    try:
        if is_log_model(path):
            return _schema_pctr(log, LogModel.load(path))
        model = XGBoostModel.load(path, build=None)
    except ModelError as exc:
        raise LogError(str(exc)) from exc
    required = tuple(name for name in RAW_COLUMNS if name not in PROFILE_COLUMNS)
    _require(log, required, "(or score it with a model of its own fields: `rtb train --schema`)")
    columns: dict[str, NDArray[Any]] = {}
    for name in RAW_COLUMNS:
        values = log.columns.get(name)
        if values is None:  # a profile count the log lacks: missing, as without a profile
            continue
        if name in NUMERIC_COLUMNS:
            try:
                columns[name] = np.array([float(v) if v else np.nan for v in values])
            except ValueError as exc:
                raise LogError(f"{log.source}: column {name!r}: {exc}") from None
        else:
            columns[name] = np.array([v or None for v in values], dtype=object)
    predicted: NDArray[np.float64] = model.predict(encode_columns(columns)).astype(np.float64)
    return predicted


def _schema_pctr(log: AuctionLog, model: LogModel) -> NDArray[np.float64]:
    """``model`` (a declared schema's) on the log's cells, typed as the schema declares."""
    features = model.schema.features
    _require(log, features, f"(the model's schema: {', '.join(features)})")
    cells = {name: log.columns[name].tolist() for name in features}
    try:
        columns = convert_columns(cells, model.schema, log.source)
        predicted = model.predict_columns(columns)
    except LogTableError as exc:
        raise LogError(str(exc)) from exc
    return predicted.astype(np.float64)


def _require(log: AuctionLog, names: tuple[str, ...], hint: str) -> None:
    missing = [name for name in names if name not in log.columns]
    if missing:
        raise LogError(
            f"{log.source}: the model reads columns the log does not have: "
            f"{', '.join(missing)}; give the log a pctr column {hint}"
        )


def with_model_pctr(log: AuctionLog, model_dir: Path | None) -> AuctionLog:
    """``log`` with its pCTR from ``model_dir`` when one is given, else as it is (its own
    column, required)."""
    if model_dir is None:
        log.require_pctr()
        return log
    if not log.columns:
        raise LogError(f"{log.source}: a compact log has no features for a model to score")
    return log.with_pctr(model_pctr(log, model_dir))
