"""The training pipeline behind ``rtb train``: labelled impressions in, model files out.

Input is a table of raw columns named as in ``bidding.features.RAW_COLUMNS`` plus the
labels ``click`` and ``conversion`` — a CSV (``bidding.synthetic.read_csv``; a public click
log renamed to these columns works too), the exchange's own event log (``rtb export`` CSVs,
joined into labelled impressions by ``bidding.event_log``), or the synthetic generator in
memory.

Rows are split by time, never at random: a model is always used on traffic that comes
after its training data, so it is evaluated the same way (train on the earlier part,
early-stop on the last slice of it, evaluate on the later part). The CTR model learns
``click`` on impressions; the CVR model learns ``conversion`` on clicked impressions only,
so pCTR × pCVR is the conversion probability of an impression.

Each model is written as ``DIR/ctr.ubj`` / ``DIR/cvr.ubj`` (UBJSON: compact and exact)
with ``DIR/ctr.meta.json`` / ``DIR/cvr.meta.json`` holding the figures: schema, feature
names, held-out metrics and calibration by decile, the oracle's metrics when the input
carries true probabilities, rows, date range, seed and parameters.

Nothing is written unless every model trained clears the quality bar
(``bidding.quality``): enough trees, a held-out log loss below the constant predictor's, a
held-out AUC above the minimum. The held-out figures go into the booster itself
(``rtb_held_out``) and the meta JSON (``held_out``), and the exchange checks them again when
it loads the file.
"""

import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, TextIO

import numpy as np
from numpy.typing import NDArray

from bidding.evaluation import Evaluation, evaluate, log_loss
from bidding.event_log import labelled_impressions, read_event_csv
from bidding.features import FEATURE_NAMES, SCHEMA_VERSION, Columns, encode_columns
from bidding.models import MODEL_FILES, XGBoostModel, fit
from bidding.quality import HeldOut, QualityBar
from bidding.synthetic import World, WorldSpec, generate, read_csv
from bidding.train_config import TrainConfig

__all__ = [
    "Label",
    "ModelRefused",
    "TrainConfig",
    "TrainResult",
    "TrainingDataError",
    "event_columns",
    "synthetic_columns",
    "time_split",
    "train",
    "train_command",
    "write_model",
]

Label = Literal["click", "conversion"]
KIND: Final[Mapping[str, str]] = {"click": "ctr", "conversion": "cvr"}
TRUTH: Final[Mapping[str, str]] = {"click": "p_click", "conversion": "p_conversion"}
SYNTHETIC_START_S: Final = 1_767_225_600  # 2026-01-01T00:00:00Z


class TrainingDataError(ValueError):
    """Input that cannot be trained on; the message names the column and the problem."""


class ModelRefused(ValueError):
    """A trained model below the quality bar; the message names the model and every miss."""


class Split(NamedTuple):
    """Row indices of the three time-ordered parts."""

    train: NDArray[np.intp]
    valid: NDArray[np.intp]
    test: NDArray[np.intp]


def time_split(ts: NDArray[np.float64], test_fraction: float, valid_fraction: float) -> Split:
    """Earliest rows train, the last ``valid_fraction`` of those validate, the latest
    ``test_fraction`` of all rows test (a stable sort keeps equal times in input order)."""
    if not (0.0 < test_fraction < 1.0 and 0.0 < valid_fraction < 1.0):
        raise ValueError("test and validation fractions must be between 0 and 1")
    order = np.argsort(ts, kind="stable")
    n_test = max(1, round(len(order) * test_fraction))
    fit_part, test = order[: len(order) - n_test], order[len(order) - n_test :]
    n_valid = max(1, round(len(fit_part) * valid_fraction))
    return Split(fit_part[: len(fit_part) - n_valid], fit_part[len(fit_part) - n_valid :], test)


@dataclass(frozen=True, slots=True)
class TrainResult:
    """A trained model, its held-out evaluation and the metadata written beside it."""

    label: Label
    model: XGBoostModel
    evaluation: Evaluation
    held_out: HeldOut
    metadata: dict[str, Any]

    def problems(self, bar: QualityBar) -> list[str]:
        """How the model misses ``bar`` (empty when it clears it)."""
        return bar.problems(self.model.trees, self.held_out)


def _labels(columns: Columns, name: str) -> NDArray[np.float64]:
    if name not in columns:
        raise TrainingDataError(f"no {name!r} column")
    values = np.asarray(columns[name], dtype=np.float64)
    if not np.isin(values, (0.0, 1.0)).all():
        raise TrainingDataError(f"column {name!r}: labels must be 0 or 1")
    return values


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def train(columns: Columns, label: Label, config: TrainConfig) -> TrainResult:
    """Train and evaluate one model on ``columns`` (see the module docstring)."""
    if "ts" not in columns:
        raise TrainingDataError("no 'ts' column: rows must be split by time")
    ts = np.asarray(columns["ts"], dtype=np.float64)
    if np.isnan(ts).any():
        raise TrainingDataError("column 'ts': every row needs a time")
    y = _labels(columns, label)
    rows = np.arange(len(ts))
    if label == "conversion":
        rows = np.flatnonzero(_labels(columns, "click") == 1.0)
    if len(rows) < 100:
        raise TrainingDataError(f"{len(rows)} usable rows for {label!r}: need at least 100")
    split = time_split(ts[rows], config.test_fraction, config.valid_fraction)
    matrix = encode_columns({name: np.asarray(v)[rows] for name, v in columns.items()})
    y32 = y[rows].astype(np.float32)
    started = time.perf_counter()
    model = fit(
        matrix[split.train],
        y32[split.train],
        matrix[split.valid],
        y32[split.valid],
        params=config.params(),
        rounds=config.rounds,
        early_stopping_rounds=config.early_stopping_rounds,
        seed=config.seed,
        progress=f"{KIND[label]} rounds" if config.progress else None,
    )
    fit_s = time.perf_counter() - started
    truth_name = TRUTH[label]
    truth = (
        np.asarray(columns[truth_name], dtype=np.float64)[rows] if truth_name in columns else None
    )
    evaluation = evaluate(
        y32[split.test],
        model.predict(matrix[split.test]),
        truth[split.test] if truth is not None else None,
    )
    base_rate = float(y32[split.train].mean())
    held_out = HeldOut(
        rows=evaluation.rows,
        positives=evaluation.positives,
        train_base_rate=base_rate,
        log_loss=evaluation.log_loss,
        constant_log_loss=log_loss(y32[split.test], np.full(len(split.test), base_rate)),
        auc=evaluation.auc,
    )
    model.record_held_out(held_out)
    t = ts[rows]
    metadata = {
        "kind": KIND[label],
        "label": label,
        "schema_version": SCHEMA_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "trees": model.trees,
        "rows": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test)},
        "date_range": {
            "train_from": _iso(t[split.train].min()),
            "train_to": _iso(t[split.valid].max()),
            "test_from": _iso(t[split.test].min()),
            "test_to": _iso(t[split.test].max()),
        },
        "seed": config.seed,
        "params": {
            **config.params(),
            "rounds": config.rounds,
            "early_stopping_rounds": config.early_stopping_rounds,
        },
        "quality_bar": {"min_trees": config.bar.min_trees, "min_auc": config.bar.min_auc},
        "fit_seconds": round(fit_s, 2),
        "trained_at": _iso(time.time()),
        "metrics": evaluation.to_json(),
        "held_out": held_out.to_json(),
    }
    return TrainResult(label, model, evaluation, held_out, metadata)


def write_model(result: TrainResult, directory: Path, source: Mapping[str, Any]) -> Path:
    """Write the model file and its metadata JSON into ``directory``; the model path."""
    directory.mkdir(parents=True, exist_ok=True)
    kind = KIND[result.label]
    path = directory / MODEL_FILES[kind]
    metadata_path = directory / f"{kind}.meta.json"
    temporary = metadata_path.with_name(f".{metadata_path.name}.tmp")
    text = json.dumps({**result.metadata, "source": dict(source)}, indent=2, allow_nan=False)
    temporary.write_text(text + "\n", encoding="utf-8")
    os.replace(temporary, metadata_path)
    result.model.save(path)  # last: a watcher reloads on the model file's change
    return path


def synthetic_columns(rows: int, seed: int, days: float = 14.0) -> dict[str, NDArray[Any]]:
    """A synthetic world and ``rows`` impressions in it, all from ``seed``."""
    rng = np.random.default_rng(seed)
    world = World.sample(WorldSpec(), rng)
    return generate(world, rows, rng, start_s=SYNTHETIC_START_S, days=days)


def _summary(result: TrainResult, out: TextIO) -> None:
    e = result.evaluation
    meta = result.metadata
    print(
        f"{meta['kind']}: {meta['trees']} trees in {meta['fit_seconds']} s on "
        f"{meta['rows']['train']:,} rows; held out {e.rows:,} rows, {e.positives:,} positives "
        f"(rate {e.base_rate:.4%}, predicted {e.mean_predicted:.4%})",
        file=out,
    )
    oracle = "" if math.isnan(e.oracle_auc) else f" (oracle {e.oracle_auc:.4f})"
    oracle_ll = "" if math.isnan(e.oracle_log_loss) else f" (oracle {e.oracle_log_loss:.5f})"
    print(f"  AUC {e.auc:.4f}{oracle}, log loss {e.log_loss:.5f}{oracle_ll}", file=out)
    print("  decile      rows  positives  predicted   observed       true  pred/obs", file=out)
    for d in e.calibration:
        mark = "" if d.enough else "  (too few positives to judge 10%)"
        print(
            f"  {d.index:6d} {d.rows:9,d} {d.positives:10,d} {d.predicted:10.4%} "
            f"{d.observed:10.4%} {d.true:10.4%} {d.ratio:9.3f}{mark}",
            file=out,
        )


def event_columns(paths: Sequence[Path]) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """Labelled impressions joined from event exports, and the ``source`` metadata naming
    them (files and counts)."""
    columns = labelled_impressions(read_event_csv(paths))
    source = {
        "events": [str(path) for path in paths],
        "impressions": len(columns["click"]),
        "clicks": int(columns["click"].sum()),
        "conversions": int(columns["conversion"].sum()),
    }
    return columns, source


def train_command(
    *,
    input_path: Path | None,
    synthetic_rows: int | None,
    labels: tuple[Label, ...],
    out_dir: Path,
    config: TrainConfig,
    events: Sequence[Path] = (),
    out: TextIO | None = None,
) -> int:
    """``rtb train``: read, join or generate the data, train each label, write, summarise.

    Returns the exit status: 2 with a message on unusable input, 1 with a message when a
    model is below ``config.bar`` (nothing written), 0 otherwise. ``out``: the summary's
    stream (standard output, as it is when called: not when this module was imported).
    """
    out = sys.stdout if out is None else out
    try:
        source: dict[str, Any]
        if events:
            columns, source = event_columns(events)
            print(
                f"joined {source['impressions']:,} impressions ({source['clicks']:,} clicks, "
                f"{source['conversions']:,} conversions) from {len(events)} event file(s)",
                file=out,
            )
        elif input_path is not None:
            columns = read_csv(input_path)
            source = {"input": str(input_path)}
        else:
            rows = synthetic_rows or 0
            columns = synthetic_columns(rows, config.seed)
            source = {"synthetic_rows": rows, "synthetic_seed": config.seed}
        results = []
        for label in labels:
            result = train(columns, label, config)
            _summary(result, out)
            results.append(result)
        _check_quality(results, config.bar)
        for result in results:
            print(f"wrote {write_model(result, out_dir, source)}", file=out)
    except ModelRefused as exc:
        print(f"rtb train: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"rtb train: {exc}", file=sys.stderr)
        return 2
    return 0


def _check_quality(results: Sequence[TrainResult], bar: QualityBar) -> None:
    """ModelRefused naming every model below ``bar``: then none is written, so a model
    directory never holds a new model next to a stale one from a refused run."""
    refused = [
        f"{KIND[r.label]}: {'; '.join(problems)}" for r in results if (problems := r.problems(bar))
    ]
    if refused:
        raise ModelRefused(
            f"no model written, below the quality bar — {' | '.join(refused)} "
            "(more data or other --max-depth/--eta/--min-child-weight; the bar: "
            "--min-trees, --min-auc)"
        )
