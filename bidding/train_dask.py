"""Training on a Dask cluster: ``rtb train --input DIR --dask-scheduler ADDRESS``.

For a log that outgrows one machine, partitioned Parquet (``bidding.log_table.
parquet_parts``). Each part is read and encoded where it lies, by the very code the single
process uses (``read_parquet_file``, ``encode_columns``); the features never leave the
workers. XGBoost's Dask integration (``xgboost.dask``) trains one booster over all the
parts, with the same parameters and early stopping. The serving schema only: its features
are hashes of each row alone, so a part encodes without seeing the others (a declared log's
bucket click rates need the whole training part first).

Three passes over the parts:

1. each part's split-order summary (``ts`` quantiles and its row count) — the cut points
   of the time split are merged from them, within a part's quantile resolution of the
   exact split the single process makes;
2. training, on the rows before the validation cut, early-stopped on the rows between
   the cuts;
3. the held-out rows' labels and predictions (the model's and the baseline's), a few
   numbers a row, gathered for the evaluation every trainer ends with
   (``bidding.train.assemble_result``).

The logistic-regression baseline is fitted on a seeded sample of the training and
validation rows (at most ``BASELINE_ROWS``), gathered to the client, and predicts on the
workers. Needs the ``dask`` extra.
"""

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bidding.baseline import Baseline, fit_baseline
from bidding.features import FEATURE_NAMES, N_FEATURES, encode_columns
from bidding.log_schema import SERVING, LogSchema
from bidding.log_table import parquet_parts, read_parquet_file
from bidding.models import booster_params, cut_to_best_round, serving_model
from bidding.train import (
    Fitted,
    HeldOutRows,
    Label,
    TrainConfig,
    TrainingDataError,
    TrainResult,
    assemble_result,
    date_range,
    label_column,
    label_values,
)

__all__ = ["BASELINE_ROWS", "DaskUnavailable", "PartSummary", "cut_points", "train_on_cluster"]

BASELINE_ROWS: Final = 200_000
"""Rows the baseline is fitted on at most (scikit-learn's fit is one process's)."""
CONNECT_TIMEOUT_S: Final = 10
"""How long to wait for the scheduler before giving up with its address."""
_QUANTILES: Final = 1001
"""Points of each part's split-order summary."""


class DaskUnavailable(ValueError):
    """Dask training asked for without the ``dask`` extra installed."""


class PartSummary(NamedTuple):
    """A part's rows in split order, in brief: how many, and their quantiles."""

    rows: int
    quantiles: NDArray[np.float64]

    @classmethod
    def of(cls, order: NDArray[np.float64]) -> "PartSummary":
        if not len(order):
            return cls(0, np.empty(0))
        return cls(len(order), np.quantile(order, np.linspace(0.0, 1.0, _QUANTILES)))


class _Part(NamedTuple):
    """One part's rows of one side of the split."""

    features: NDArray[np.float32]
    labels: NDArray[np.float32]
    truth: NDArray[np.float64]
    ts_range: tuple[float, float]


def _rows(columns: dict[str, NDArray[Any]], label: Label, schema: LogSchema) -> NDArray[np.bool_]:
    """The rows a model of ``label`` learns from: all with a time for clicks, the clicked
    for conversions."""
    usable = ~np.isnan(np.asarray(columns["ts"], np.float64))
    if label == "conversion":
        usable &= label_values(columns, schema.label) == 1.0
    return usable


def _read(path: Path, schema: LogSchema, label: Label) -> dict[str, NDArray[Any]]:
    """A part's columns, checked as the single process checks its log (raised on the
    worker, re-raised by the client with the part's path)."""
    columns = read_parquet_file(path, schema)[1]
    try:
        if "ts" not in columns:
            raise TrainingDataError("no 'ts' column: a Dask training splits by time")
        label_values(columns, label_column(schema, label))
    except TrainingDataError as exc:
        raise TrainingDataError(f"{path}: {exc}") from None
    return columns


def _summary(path: Path, label: Label, schema: LogSchema) -> PartSummary:
    columns = _read(path, schema, label)
    return PartSummary.of(np.asarray(columns["ts"], np.float64)[_rows(columns, label, schema)])


def cut_points(
    summaries: Sequence[PartSummary], test_fraction: float, valid_fraction: float
) -> tuple[float, float]:
    """The validation and test cuts of the time split, from the parts' summaries: each
    quantile point stands for its part's rows between it and the next."""
    points = np.concatenate([s.quantiles for s in summaries if s.rows])
    weights = np.concatenate(
        [np.full(_QUANTILES, s.rows / _QUANTILES) for s in summaries if s.rows]
    )
    order = np.argsort(points, kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    fit_share = 1.0 - test_fraction
    at = np.searchsorted(cumulative, [fit_share * (1.0 - valid_fraction), fit_share])
    valid_cut, test_cut = points[order][np.minimum(at, len(points) - 1)]
    return float(valid_cut), float(test_cut)


def _side(path: Path, label: Label, schema: LogSchema, low: float, high: float) -> _Part:
    """The rows of one part with ``low`` ≤ ts < ``high``, encoded."""
    columns = _read(path, schema, label)
    ts = np.asarray(columns["ts"], np.float64)
    keep = _rows(columns, label, schema) & (ts >= low) & (ts < high)
    part = {name: np.asarray(values)[keep] for name, values in columns.items()}
    truth_name = schema.truth if label == "click" else schema.conversion_truth
    n = int(keep.sum())
    truth = part.get(truth_name or "", np.full(n, np.nan))
    span = (float(ts[keep].min()), float(ts[keep].max())) if n else (math.inf, -math.inf)
    return _Part(
        encode_columns(part) if n else np.empty((0, N_FEATURES), np.float32),
        np.asarray(part[label_column(schema, label)], np.float32),
        np.asarray(truth, np.float64),
        span,
    )


class _Stats(NamedTuple):
    rows: int
    positives: int
    ts_range: tuple[float, float]


def _stats(part: _Part) -> _Stats:
    return _Stats(len(part.labels), int(part.labels.sum()), part.ts_range)


def _sample(
    part: _Part, share: float, seed: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """A seeded share of a part's rows, for the baseline."""
    keep = np.random.default_rng(seed).random(len(part.labels)) < share
    return part.features[keep], part.labels[keep]


def _baseline_predict(features: NDArray[np.float32], baseline: Baseline) -> NDArray[np.float64]:
    return np.asarray(baseline.predict(features, np.empty((len(features), 0))), np.float64)


def _fit_baseline(
    samples: Sequence[tuple[NDArray[np.float32], NDArray[np.float32]]], training: int, seed: int
) -> Baseline:
    """The baseline on the gathered samples: the first ``training`` are the training
    part's, the others the validation part's."""
    x = np.concatenate([s[0] for s in samples])
    y = np.concatenate([s[1] for s in samples])
    split_at = sum(len(s[1]) for s in samples[:training])
    return fit_baseline(x, np.empty((len(x), 0)), y, np.arange(split_at),
                        np.arange(split_at, len(y)), seed=seed)  # fmt: skip


def train_on_cluster(
    source: Path,
    label: Label,
    config: TrainConfig,
    scheduler: str,
    schema: LogSchema = SERVING,
) -> TrainResult:
    """Train and evaluate one model on the parts of ``source`` with the Dask cluster whose
    scheduler is at ``scheduler`` (module docstring)."""
    if not schema.serving:
        raise TrainingDataError(
            "--dask-scheduler trains the serving schema only: a declared schema's bucket "
            "click rates need the whole training part in one place (train it without "
            "--dask-scheduler)"
        )
    try:
        import dask.array as da
        from distributed import Client
        from xgboost import dask as dxgb
    except ImportError as exc:
        raise DaskUnavailable(
            f"training on a Dask cluster needs the dask extra ({exc}): "
            "pip install 'rtb-exchange[dask]'"
        ) from None
    parts = parquet_parts(source) if source.is_dir() else [source]
    with Client(scheduler, timeout=CONNECT_TIMEOUT_S) as client:
        summaries = client.gather(client.map(_summary, parts, label=label, schema=schema))
        total = sum(s.rows for s in summaries)
        if total < 100:
            raise TrainingDataError(f"{total} usable rows for {label!r}: need at least 100")
        valid_cut, test_cut = cut_points(summaries, config.test_fraction, config.valid_fraction)
        bounds = {"train": (-math.inf, valid_cut), "valid": (valid_cut, test_cut),
                  "test": (test_cut, math.inf)}  # fmt: skip
        sides = {  # each part's rows of each side, encoded, kept on the workers
            name: client.map(_side, parts, label=label, schema=schema, low=low, high=high)
            for name, (low, high) in bounds.items()
        }
        stats = {
            name: client.gather(client.map(_stats, futures)) for name, futures in sides.items()
        }
        for name in ("train", "valid"):
            positives = sum(s.positives for s in stats[name])
            rows = sum(s.rows for s in stats[name])
            if positives in (0, rows):
                raise TrainingDataError(
                    f"{positives:,} positives in the {rows:,} {name} rows: nothing to learn "
                    "from (more rows, or a larger --valid-fraction)"
                )

        def stacked(name: str, field: str, dtype: type, width: int | None = None) -> Any:
            return da.concatenate(
                [
                    da.from_delayed(
                        client.submit(getattr, future, field),
                        shape=(n.rows,) if width is None else (n.rows, width),
                        dtype=dtype,
                    )
                    for future, n in zip(sides[name], stats[name], strict=True)
                ]
            )

        names = list(FEATURE_NAMES)
        matrices = {
            name: dxgb.DaskDMatrix(
                client,
                stacked(name, "features", np.float32, N_FEATURES),
                stacked(name, "labels", np.float32),
                feature_names=names,
            )
            for name in ("train", "valid")
        }
        started = time.perf_counter()
        trained = dxgb.train(
            client,
            booster_params(
                {k: v for k, v in config.params().items() if k != "nthread"}, config.seed
            ),
            matrices["train"],
            num_boost_round=config.rounds,
            evals=[(matrices["valid"], "valid")],
            early_stopping_rounds=config.early_stopping_rounds,
            verbose_eval=False,
        )
        booster = cut_to_best_round(trained["booster"])
        fit_s = time.perf_counter() - started

        fit_sides = [*sides["train"], *sides["valid"]]
        share = min(
            1.0, BASELINE_ROWS / max(1, sum(s.rows for s in [*stats["train"], *stats["valid"]]))
        )
        samples = client.gather(
            [client.submit(_sample, f, share, config.seed + i) for i, f in enumerate(fit_sides)]
        )
        base = _fit_baseline(samples, len(parts), config.seed)
        test_x = stacked("test", "features", np.float32, N_FEATURES)
        test_y, test_truth, predicted, baseline_predicted = client.compute(
            [
                stacked("test", "labels", np.float32),
                stacked("test", "truth", np.float64),
                dxgb.predict(
                    client, booster, dxgb.DaskDMatrix(client, test_x, feature_names=names)
                ),
                test_x.map_blocks(_baseline_predict, base, drop_axis=1, dtype=np.float64),
            ],
            sync=True,
        )
    train_stats = stats["train"]
    spans = {name: [s.ts_range for s in part_stats if s.rows] for name, part_stats in stats.items()}
    return assemble_result(
        label,
        Fitted(serving_model(booster), FEATURE_NAMES, {}, fit_s),
        HeldOutRows(
            np.asarray(test_y, np.float32),
            np.asarray(predicted, np.float32),
            np.asarray(baseline_predicted),
            None if np.isnan(test_truth).all() else np.asarray(test_truth),
        ),
        config,
        schema,
        baseline_c=base.c,
        train_base_rate=sum(s.positives for s in train_stats) / sum(s.rows for s in train_stats),
        rows={name: sum(s.rows for s in part_stats) for name, part_stats in stats.items()},
        split_kind="time",
        ranges=date_range(
            min(lo for lo, _ in spans["train"]),
            max(hi for _, hi in spans["valid"]),
            min(lo for lo, _ in spans["test"]),
            max(hi for _, hi in spans["test"]),
        ),
    )
