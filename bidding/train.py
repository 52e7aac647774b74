"""The training pipeline behind ``rtb train``: labelled impressions in, model files out.

Input is a table of labelled impressions and the schema that says what its columns are
(``bidding.log_schema``): either the serving schema — the raw columns of
``bidding.features`` plus ``click`` and ``conversion``, from a file, the exchange's own
event log (``rtb export`` CSVs joined by ``bidding.event_log``) or the synthetic generator
in memory — whose models the exchange serves; or a declared schema of any log (CSV, TSV or
Parquet, ``bidding.log_table``), whose models score logs (``bidding.log_model``), with
features sized to the data (``bidding.log_encoding``).

Rows are split by time when the schema has a time column, else in row order, never at
random: a model is always used on traffic that comes after its training data, so it is
evaluated the same way (train on the earlier part, early-stop on the last slice of it,
evaluate on the later part). The CTR model learns the click label on impressions; the CVR
model learns the conversion label on clicked impressions only, so pCTR × pCVR is the
conversion probability of an impression.

Each model is written as ``DIR/ctr.ubj`` / ``DIR/cvr.ubj`` (UBJSON: compact and exact)
with ``DIR/ctr.meta.json`` / ``DIR/cvr.meta.json`` holding the figures: schema, feature
names, held-out metrics and calibration by decile, the logistic-regression baseline's
(``bidding.baseline``) on the same split, the oracle's when the input carries true
probabilities, rows, split range, seed and parameters.

Nothing is written unless every model trained clears the quality bar
(``bidding.quality``: enough trees, a held-out log loss below the constant predictor's, a
held-out AUC above the minimum), predicts more than one value, and has a held-out AUC no
more than ``TrainConfig.baseline_margin`` below the baseline's. The held-out figures go
into the booster itself (``rtb_held_out``) and the meta JSON (``held_out``), and the
exchange checks them again when it loads the file.
"""

import itertools
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

from bidding.baseline import BaselineUnavailable, check_available, fit_baseline
from bidding.evaluation import Evaluation, evaluate, log_loss
from bidding.event_log import labelled_impressions, read_event_csv
from bidding.features import FEATURE_NAMES, SCHEMA_VERSION, Columns, encode_columns
from bidding.log_encoding import Design, LogEncoder
from bidding.log_schema import SERVING, LogSchema
from bidding.log_table import Format, read_table, time_order
from bidding.models import LOG_SCHEMA, MODEL_FILES, LogBooster, XGBoostModel, fit, fit_log_model
from bidding.quality import HeldOut
from bidding.synthetic import World, WorldSpec, generate
from bidding.train_config import TrainConfig

__all__ = [
    "Label",
    "ModelRefused",
    "TrainConfig",
    "TrainResult",
    "TrainingDataError",
    "event_columns",
    "label_column",
    "synthetic_columns",
    "time_split",
    "train",
    "train_command",
    "write_model",
]

Label = Literal["click", "conversion"]
KIND: Final[Mapping[str, str]] = {"click": "ctr", "conversion": "cvr"}
GAIN_SHARES_KEPT: Final = 20
"""Features listed in a model's ``gain_shares`` metadata (the rest carry little)."""
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


def time_split(ts: NDArray[Any], test_fraction: float, valid_fraction: float) -> Split:
    """Earliest rows train, the last ``valid_fraction`` of those validate, the latest
    ``test_fraction`` of all rows test (a stable sort keeps equal times in input order:
    row numbers give the row-order split)."""
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
    model: XGBoostModel | LogBooster
    evaluation: Evaluation
    held_out: HeldOut
    metadata: dict[str, Any]
    baseline: Evaluation
    """The logistic-regression baseline's figures on the same held-out rows."""
    distinct_predictions: int
    """Different values the model predicts on the held-out rows (1: a constant)."""

    def problems(self, config: TrainConfig) -> list[str]:
        """How the model misses ``config``'s bar and baseline margin (empty when it
        clears both)."""
        found = config.bar.problems(self.model.trees, self.held_out)
        if self.distinct_predictions < 2:
            found.append(
                f"a constant predictor: {self.evaluation.mean_predicted:.4%} for every held-out row"
            )
        behind = self.baseline.auc - self.evaluation.auc
        if behind > config.baseline_margin:
            found.append(
                f"held-out AUC {self.evaluation.auc:.4f} is {behind:.4f} below the "
                f"logistic-regression baseline's {self.baseline.auc:.4f} (margin "
                f"{config.baseline_margin})"
            )
        return found


def label_values(columns: Columns, name: str) -> NDArray[np.float64]:
    """Column ``name`` as 0/1 labels; TrainingDataError naming a missing column or the
    first row that is neither."""
    if name not in columns:
        raise TrainingDataError(f"no {name!r} column")
    values = np.asarray(columns[name], dtype=np.float64)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if len(bad):
        first = bad[0]
        raise TrainingDataError(
            f"column {name!r}: labels must be 0 or 1 (row {first + 1} has {values[first].item()!r})"
        )
    return values


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def label_column(schema: LogSchema, label: Label) -> str:
    """The column holding ``label``; TrainingDataError when the schema declares none."""
    if label == "click":
        return schema.label
    if schema.conversion is None:
        raise TrainingDataError(
            "the schema declares no conversion label ('conversion' in the schema file or "
            "--conversion-column): train the click model alone with --label click"
        )
    return schema.conversion


def _order(columns: Columns, schema: LogSchema, rows: NDArray[np.intp]) -> tuple[Any, str]:
    """The split order of ``rows`` and its kind: the time column's values, else row order."""
    if schema.time is not None and schema.time in columns:
        order = np.asarray(columns[schema.time])[rows]
        if order.dtype.kind == "O":  # text, as given in memory: what the reader would make
            order = time_order(order.tolist(), schema.time, "the rows")
        if order.dtype.kind == "f" and np.isnan(order).any():
            raise TrainingDataError(f"column {schema.time!r}: every row needs a time")
        return order, "time"
    return np.arange(len(rows)), "row order"


class _FitOutput(NamedTuple):
    model: "XGBoostModel | LogBooster"
    names: tuple[str, ...]
    test_predictions: NDArray[np.float32]
    codes: NDArray[Any]
    dense: NDArray[np.float64]
    encoding: dict[str, Any]


def _fit(
    columns: Columns,
    y: NDArray[np.float32],
    split: Split,
    schema: LogSchema,
    config: TrainConfig,
    progress: str | None,
) -> _FitOutput:
    """The booster for ``schema`` and what the baseline needs: the serving features with
    every column one-hot (they are bucket codes and small counts), or a declared log's
    buckets one-hot and its numbers."""
    boost: dict[str, Any] = {
        "params": config.params(),
        "rounds": config.rounds,
        "early_stopping_rounds": config.early_stopping_rounds,
        "seed": config.seed,
        "progress": progress,
    }
    if schema.serving:
        matrix = encode_columns(columns)
        model = fit(
            matrix[split.train], y[split.train], matrix[split.valid], y[split.valid], **boost
        )
        empty = np.empty((len(matrix), 0))
        predicted = model.predict(matrix[split.test])
        return _FitOutput(model, FEATURE_NAMES, predicted, matrix, empty, {})
    encoder = LogEncoder.fit(
        dict(columns), schema, y.astype(np.float64), split.train, config.encoder()
    )
    design = encoder.design(dict(columns))
    fit_part = Design(design.codes[split.train], design.dense[split.train])
    fit_labels = y[split.train].astype(np.float64)
    fit_matrix = encoder.matrix(fit_part, (np.arange(len(split.train)), fit_labels))
    matrix = encoder.matrix(design)
    encoding = encoder.to_json()
    booster = fit_log_model(
        fit_matrix,
        y[split.train],
        matrix[split.valid],
        y[split.valid],
        names=encoder.feature_names,
        encoding=encoding,
        **boost,
    )
    sizes = {
        "buckets": {c.name: c.buckets for c in encoder.counted},
        "tags": {name: len(kept) for name, kept in encoder.tags},
    }
    predicted = booster.predict(matrix[split.test])
    return _FitOutput(booster, encoder.feature_names, predicted, design.codes, design.dense, sizes)


def train(
    columns: Columns, label: Label, config: TrainConfig, schema: LogSchema = SERVING
) -> TrainResult:
    """Train and evaluate one model on ``columns`` (see the module docstring)."""
    y_all = label_values(columns, label_column(schema, label))
    rows = np.arange(len(y_all))
    if label == "conversion":
        rows = np.flatnonzero(label_values(columns, schema.label) == 1.0)
    if len(rows) < 100:
        raise TrainingDataError(f"{len(rows)} usable rows for {label!r}: need at least 100")
    order, split_kind = _order(columns, schema, rows)
    split = time_split(order, config.test_fraction, config.valid_fraction)
    part = {name: np.asarray(v)[rows] for name, v in columns.items()}
    y32 = y_all[rows].astype(np.float32)
    for name, part_rows in (("training", split.train), ("validation", split.valid)):
        positives = int(y32[part_rows].sum())
        if positives in (0, len(part_rows)):
            raise TrainingDataError(
                f"column {label_column(schema, label)!r}: {positives:,} positives in the "
                f"{len(part_rows):,} {name} rows: nothing to learn from (more rows, or a "
                "larger --valid-fraction)"
            )
    started = time.perf_counter()
    fitted = _fit(
        part, y32, split, schema, config, f"{KIND[label]} rounds" if config.progress else None
    )
    fit_s = time.perf_counter() - started
    truth_name = schema.truth if label == "click" else schema.conversion_truth
    truth = (
        np.asarray(columns[truth_name], dtype=np.float64)[rows]
        if truth_name is not None and truth_name in columns
        else None
    )
    test_truth = truth[split.test] if truth is not None else None
    base = fit_baseline(fitted.codes, fitted.dense, y32, split.train, split.valid, seed=config.seed)
    held_out = HeldOutRows(
        y32[split.test],
        fitted.test_predictions,
        base.predict(fitted.codes[split.test], fitted.dense[split.test]),
        test_truth,
    )
    return assemble_result(
        label,
        Fitted(fitted.model, fitted.names, fitted.encoding, fit_s),
        held_out,
        config,
        schema,
        baseline_c=base.c,
        train_base_rate=float(y32[split.train].mean()),
        rows={"train": len(split.train), "valid": len(split.valid), "test": len(split.test)},
        split_kind=split_kind,
        ranges=_ranges(order, split, split_kind, schema),
    )


class Fitted(NamedTuple):
    """A trained booster as a trainer hands it over: its feature names, encoding state and
    fitting time."""

    model: "XGBoostModel | LogBooster"
    names: tuple[str, ...]
    encoding: dict[str, Any]
    fit_seconds: float


class HeldOutRows(NamedTuple):
    """The held-out rows' labels and what the model and the baseline predict for them;
    ``truth``: their true probabilities where the data has them."""

    labels: NDArray[np.float32]
    predictions: NDArray[np.float32]
    baseline_predictions: NDArray[Any]
    truth: NDArray[np.float64] | None


def assemble_result(
    label: Label,
    fitted: Fitted,
    test: HeldOutRows,
    config: TrainConfig,
    schema: LogSchema,
    *,
    baseline_c: float,
    train_base_rate: float,
    rows: Mapping[str, int],
    split_kind: str,
    ranges: Mapping[str, Any],
) -> TrainResult:
    """Evaluate a trained model on its held-out rows and write its metadata: the one
    ending of every trainer (one process, or a Dask cluster)."""
    evaluation = evaluate(test.labels, test.predictions, test.truth)
    baseline = evaluate(test.labels, test.baseline_predictions, test.truth)
    held_out = HeldOut(
        rows=evaluation.rows,
        positives=evaluation.positives,
        train_base_rate=train_base_rate,
        log_loss=evaluation.log_loss,
        constant_log_loss=log_loss(test.labels, np.full(len(test.labels), train_base_rate)),
        auc=evaluation.auc,
    )
    fitted.model.record_held_out(held_out)
    metadata = {
        "kind": KIND[label],
        "label": label,
        "schema_version": SCHEMA_VERSION if schema.serving else LOG_SCHEMA,
        "schema": schema.to_json(),
        "feature_names": list(fitted.names),
        "encoding": fitted.encoding,
        "trees": fitted.model.trees,
        "rows": dict(rows),
        "split": split_kind,
        **ranges,
        "seed": config.seed,
        "params": {
            **config.params(),
            "rounds": config.rounds,
            "early_stopping_rounds": config.early_stopping_rounds,
        },
        "quality_bar": {
            "min_trees": config.bar.min_trees,
            "min_auc": config.bar.min_auc,
            "baseline_margin": config.baseline_margin,
        },
        "fit_seconds": round(fitted.fit_seconds, 2),
        "trained_at": _iso(time.time()),
        "metrics": evaluation.to_json(),
        "gain_shares": {
            name: round(share, 4)
            for name, share in itertools.islice(
                fitted.model.gain_shares(fitted.names).items(), GAIN_SHARES_KEPT
            )
        },
        "baseline": {"model": "logistic regression", "C": baseline_c, **baseline.to_json()},
        "held_out": held_out.to_json(),
    }
    distinct = len(np.unique(test.predictions))
    return TrainResult(label, fitted.model, evaluation, held_out, metadata, baseline, distinct)


def _ranges(order: Any, split: Split, kind: str, schema: LogSchema) -> dict[str, Any]:
    """Where each part starts and ends: dates for the serving schema's Unix ``ts``, the
    time column's own values for a declared one, row numbers in row order."""
    if kind == "time" and schema.serving:
        return date_range(
            order[split.train].min(),
            order[split.valid].max(),
            order[split.test].min(),
            order[split.test].max(),
        )
    return {
        "order_range": {
            "train_from": order[split.train].min().item(),
            "train_to": order[split.valid].max().item(),
            "test_from": order[split.test].min().item(),
            "test_to": order[split.test].max().item(),
        }
    }


def date_range(
    train_from: float, train_to: float, test_from: float, test_to: float
) -> dict[str, Any]:
    """The metadata's ``date_range`` of a time split on Unix seconds (training includes the
    validation part)."""
    return {
        "date_range": {
            "train_from": _iso(train_from),
            "train_to": _iso(train_to),
            "test_from": _iso(test_from),
            "test_to": _iso(test_to),
        }
    }


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
    e, b = result.evaluation, result.baseline
    meta = result.metadata
    print(
        f"{meta['kind']}: {meta['trees']} trees in {meta['fit_seconds']} s on "
        f"{meta['rows']['train']:,} rows ({meta['split']} split); held out {e.rows:,} rows, "
        f"{e.positives:,} positives (rate {e.base_rate:.4%}, predicted {e.mean_predicted:.4%})",
        file=out,
    )
    oracle = "" if math.isnan(e.oracle_auc) else f" (oracle {e.oracle_auc:.4f})"
    oracle_ll = "" if math.isnan(e.oracle_log_loss) else f" (oracle {e.oracle_log_loss:.5f})"
    print(f"  AUC {e.auc:.4f}{oracle}, log loss {e.log_loss:.5f}{oracle_ll}", file=out)
    print(
        f"  baseline (logistic regression, C={meta['baseline']['C']}): AUC {b.auc:.4f}, "
        f"log loss {b.log_loss:.5f}",
        file=out,
    )
    top = ", ".join(f"{name} {share:.1%}" for name, share in list(meta["gain_shares"].items())[:6])
    print(f"  learnt most from: {top or 'nothing (a constant model)'}", file=out)
    print(
        "  decile      rows  positives  predicted   observed       true  pred/obs  baseline",
        file=out,
    )
    for d, base in zip(e.calibration, b.calibration, strict=True):
        mark = "" if d.enough else "  (too few positives to judge 10%)"
        print(
            f"  {d.index:6d} {d.rows:9,d} {d.positives:10,d} {d.predicted:10.4%} "
            f"{d.observed:10.4%} {d.true:10.4%} {d.ratio:9.3f} {base.ratio:9.3f}{mark}",
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
    schema: LogSchema = SERVING,
    input_format: Format | None = None,
    out: TextIO | None = None,
    dask_scheduler: str | None = None,
) -> int:
    """``rtb train``: read, join or generate the data, train each label, write, summarise.

    Returns the exit status: 2 with a message on unusable input (a label the schema or
    the input lacks is found before anything is trained), 1 with a message when a model
    is refused (nothing written), 0 otherwise. Columns of the input the schema does not
    name are reported on stderr. ``out``: the summary's stream (standard output, as it is
    when called: not when this module was imported).
    """
    out = sys.stdout if out is None else out
    try:
        check_available()
        for label in labels:
            label_column(schema, label)
        if dask_scheduler is not None and input_path is not None:
            return _train_on_cluster(
                input_path, labels, out_dir, config, schema, dask_scheduler, out
            )
        source: dict[str, Any]
        if events:
            columns, source = event_columns(events)
            print(
                f"joined {source['impressions']:,} impressions ({source['clicks']:,} clicks, "
                f"{source['conversions']:,} conversions) from {len(events)} event file(s)",
                file=out,
            )
        elif input_path is not None:
            table = read_table(input_path, schema, input_format)
            columns = table.columns
            source = {"input": str(input_path), "rows": table.rows}
            if table.unused:
                source["unused_columns"] = list(table.unused)
                print(
                    f"rtb train: warning: {len(table.unused)} column(s) of {input_path} not "
                    f"in the schema, not used: {', '.join(table.unused)} (declare them, or "
                    "list them under 'ignore')",
                    file=sys.stderr,
                )
            if table.absent:
                print(
                    f"rtb train: note: serving-schema column(s) not in {input_path}, encoded "
                    f"as missing: {', '.join(table.absent)}",
                    file=sys.stderr,
                )
        else:
            rows = synthetic_rows or 0
            columns = synthetic_columns(rows, config.seed)
            source = {"synthetic_rows": rows, "synthetic_seed": config.seed}
        for label in labels:
            name = label_column(schema, label)
            if name not in columns:
                raise TrainingDataError(
                    f"no {name!r} column for the {label} model: train the others alone "
                    "(--label click or --label conversion)"
                )
        results = []
        for label in labels:
            result = train(columns, label, config, schema)
            _summary(result, out)
            results.append(result)
        _check_quality(results, config)
        for result in results:
            print(f"wrote {write_model(result, out_dir, source)}", file=out)
    except ModelRefused as exc:
        print(f"rtb train: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, BaselineUnavailable) as exc:
        print(f"rtb train: {exc}", file=sys.stderr)
        return 2
    return 0


def _train_on_cluster(
    input_path: Path,
    labels: tuple[Label, ...],
    out_dir: Path,
    config: TrainConfig,
    schema: LogSchema,
    scheduler: str,
    out: TextIO,
) -> int:
    """``train_command`` on a Dask cluster: the log is read by the workers, part by part."""
    from bidding.train_dask import train_on_cluster

    results = []
    for label in labels:
        result = train_on_cluster(input_path, label, config, scheduler, schema)
        _summary(result, out)
        results.append(result)
    _check_quality(results, config)
    source = {"input": str(input_path), "dask_scheduler": scheduler}
    for result in results:
        print(f"wrote {write_model(result, out_dir, source)}", file=out)
    return 0


def _check_quality(results: Sequence[TrainResult], config: TrainConfig) -> None:
    """ModelRefused naming every refused model and why: then none is written, so a model
    directory never holds a new model next to a stale one from a refused run."""
    refused = [
        f"{KIND[r.label]}: {'; '.join(problems)}"
        for r in results
        if (problems := r.problems(config))
    ]
    if refused:
        raise ModelRefused(
            f"no model written, below the quality bar — {' | '.join(refused)} "
            "(try more rows, a smaller --max-depth or --min-child-weight, a lower --eta, "
            "crosses of the fields that interact (--cross A*B); the bar: --min-trees, "
            "--min-auc, --baseline-margin)"
        )
