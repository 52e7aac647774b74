"""The model part of the router's decision time, and every way of scoring it side by side.

``model_timings`` reports, in one run:

- features + both predictions for 10/100/1,000 candidates, as the router makes them
  (the feature rows of N candidate ads gathered from a block precomputed at startup);
- each scoring path on the same real feature rows, for the shipped CTR and CVR models and
  8/100/1,000 rows: ``Booster.inplace_predict``, XGBoost's C function called directly
  (``xgboost-c``), treelite's GTIL interpreter, the compiled library through
  ``tl2cgen.Predictor`` (a ``tl2cgen.DMatrix`` built per call, as a caller must), the same
  library called directly (``compiled``, what serving uses), and onnxruntime when it and
  onnxmltools are importable. The calls of all paths are interleaved in blocks, so that a
  change of the machine's speed during the run touches them alike; each label carries the
  largest difference from ``inplace_predict`` seen;
- both models' scoring measured inside the router (``CampaignRouter.request_bids`` over
  8 or 100 campaigns that all match every request, so each request scores exactly that
  many rows), compiled against ``xgboost-c``: the time of the two predict calls only,
  between which the rest of the decision runs and evicts what it will from the caches.

Run it alone with ``python -m bench.router_models``.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.section import median_p99
from bidding.campaigns import Campaign, Creative, RouterSpec
from bidding.dense_predict import DensePredictor
from bidding.exploration import MemoryCreativeStats
from bidding.features import AdBlock, AdKey, ContextFeatures, FeatureMatrix, feature_matrix
from bidding.models import (
    DEFAULT_BUILD,
    FALLBACK_RATES,
    MODEL_FILES,
    CtrCvrModels,
    ModelHolder,
    RuleBasedModel,
    XGBoostModel,
    load_models,
)
from bidding.router import CampaignRouter
from bidding.valuation import Goal, GoalKind
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from openrtb.request import BidRequest

__all__ = ["inside_router_timings", "model_timings", "path_timings"]

_MODELS = Path(__file__).resolve().parent.parent / "bidding" / "model_files"
_CATS = ("IAB1", "IAB2", "IAB3", "IAB8", "IAB9", "IAB17", "IAB19", "IAB20")
_NOW_S = 1_767_225_600.0
Row = tuple[str, float, float]


def _request() -> BidRequest:
    from tests.builders import banner_request  # the project's one request fixture

    body = banner_request()
    body["user"].update(
        yob=1988,
        gender="F",
        data=[{"id": "synth", "segment": [{"id": "topic-3"}, {"id": "misc-7"}]}],
    )
    return BidRequest.model_validate(body)


def _ads(n: int) -> AdBlock:
    return AdBlock.of(
        [AdKey(f"cmp-{i // 3}", f"cr-{i}", _CATS[i % len(_CATS)], 300, 250) for i in range(n)]
    )


def _features_and_predict(sizes: tuple[int, ...], repeats: int) -> list[Row]:
    models = load_models(_MODELS, RuleBasedModel(0.01, 0.05))
    if not isinstance(models, CtrCvrModels) or models.degraded:
        raise RuntimeError(f"shipped models unusable: {models.problems}")
    request = _request()
    imp = request.imp[0]
    block = _ads(max(sizes))
    out = []
    for n in sizes:
        rows = np.arange(n, dtype=np.intp)
        samples = np.empty(repeats)
        for i in range(repeats + 50):
            started = time.perf_counter()
            context = ContextFeatures.of(request, imp, _NOW_S)
            models.predict(feature_matrix(context, block.take(rows)))
            if i >= 50:  # warm-up
                samples[i - 50] = time.perf_counter() - started
        out.append(
            (
                f"features + CTR/CVR predict ({models.paths['ctr']}), {n} candidates",
                float(np.median(samples) * 1e6),
                float(np.percentile(samples, 99) * 1e6),
            )
        )
    return out


Predict = Callable[[FeatureMatrix], Any]


def _paths(kind: str) -> dict[str, Predict]:
    """Every scoring path of one shipped model that this machine can run."""
    import xgboost as xgb

    path = _MODELS / MODEL_FILES[kind]
    booster = xgb.Booster(model_file=str(path))
    booster.set_param({"nthread": 1})
    dense = DensePredictor(booster)
    compiled = XGBoostModel.load(path, build=DEFAULT_BUILD)
    paths: dict[str, Predict] = {
        "inplace_predict": lambda x: booster.inplace_predict(x, validate_features=False),
        "xgboost-c (dense C call)": dense.predict,
    }
    with contextlib.suppress(ImportError):
        import treelite

        forest = treelite.frontend.from_xgboost(booster)
        paths["treelite GTIL"] = lambda x: treelite.gtil.predict(forest, x, nthread=1)
    library = compiled.library
    if library is not None:
        import tl2cgen

        predictor = tl2cgen.Predictor(library, nthread=1)
        paths["tl2cgen.Predictor + DMatrix"] = lambda x: predictor.predict(
            tl2cgen.DMatrix(x, dtype="float32")
        )
        paths["compiled (ctypes, one call)"] = compiled.predict
    with contextlib.suppress(ImportError):  # optional: pip install onnxruntime onnxmltools
        paths["onnxruntime"] = _onnx(booster)
    return paths


def _onnx(booster: Any) -> Predict:
    import onnxruntime
    from onnxmltools.convert import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    unnamed = booster.copy()
    unnamed.feature_names = None  # the converter wants f0, f1, ...
    unnamed.feature_types = None
    width = booster.num_features()
    model = convert_xgboost(unnamed, initial_types=[("input", FloatTensorType([None, width]))])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda x: session.run(["probabilities"], {"input": x})[0][:, 1]


def path_timings(sizes: tuple[int, ...] = (8, 100, 1000), calls: int = 2000) -> list[Row]:
    """(label, median µs, p99 µs) per model, row count and scoring path."""
    request = _request()
    context = ContextFeatures.of(request, request.imp[0], _NOW_S)
    block = _ads(max(sizes))
    out = []
    for kind in ("ctr", "cvr"):
        paths = _paths(kind)
        for n in sizes:
            matrix = feature_matrix(context, block.take(np.arange(n, dtype=np.intp)))
            reference = np.asarray(paths["inplace_predict"](matrix), np.float32)
            errors = {  # GTIL and tl2cgen answer (rows, targets, classes)
                label: float(np.max(np.abs(np.asarray(predict(matrix)).reshape(-1) - reference)))
                for label, predict in paths.items()
            }
            total = calls if n < 1000 else max(100, calls // 10)
            samples: dict[str, list[float]] = {label: [] for label in paths}
            for _ in range(0, total + 50, 50):
                for label, predict in paths.items():
                    for _call in range(50):
                        started = time.perf_counter_ns()
                        predict(matrix)
                        samples[label].append((time.perf_counter_ns() - started) / 1000)
            for label in paths:
                median, p99 = median_p99(samples[label][50:])  # the first block warms up
                out.append((f"{kind} {n} rows: {label} (max |Δ| {errors[label]:.0e})", median, p99))
    return out


class _Timed:
    """A model whose predict calls are timed (µs), as the router makes them."""

    def __init__(self, model: XGBoostModel, record: list[float]) -> None:
        self._model = model
        self._record = record

    def predict(self, matrix: FeatureMatrix) -> Any:
        started = time.perf_counter_ns()
        try:
            return self._model.predict(matrix)
        finally:
            self._record.append((time.perf_counter_ns() - started) / 1000)


class _TimedModels(CtrCvrModels):
    """The live pair with timed models; still trained models to the router."""

    __slots__ = ()

    @property
    def degraded(self) -> bool:
        return False


def _matching_campaigns(n: int) -> tuple[Campaign, ...]:
    goal = Goal(GoalKind.ROI, conversion_value_micros=60_000_000, target_roi=1.5)
    return tuple(
        Campaign(
            f"c{i}",
            f"adv{i}",
            f"c{i}",
            1_000_000,
            10**15,
            "UTC",
            (Creative(f"c{i}-mpu", 300, 250, "<img>", (f"adv{i}.example",), ("IAB1",)),),
            goal=goal,
        )
        for i in range(n)
    )


async def _scoring_in_router(
    models: ModelHolder, campaigns: tuple[Campaign, ...], repeat: int
) -> list[float]:
    store, keys = MemoryStore(), KeySpace("bench:")
    await open_ledger(store, keys, [c.id for c in campaigns])
    live = models.current
    if not isinstance(live, CtrCvrModels) or live.degraded:
        raise RuntimeError(f"shipped models unusable: {live.problems}")
    if not isinstance(live.ctr, XGBoostModel) or not isinstance(live.cvr, XGBoostModel):
        raise RuntimeError("a trained model is missing")
    ctr_us: list[float] = []
    cvr_us: list[float] = []
    models.current = _TimedModels(_Timed(live.ctr, ctr_us), _Timed(live.cvr, cvr_us))
    router = CampaignRouter(
        RouterSpec("bench", campaigns),
        SpendLedger(store, keys, clock=lambda: _NOW_S),
        "USD",
        clock=lambda: _NOW_S,
        models=models,
        creative_stats=MemoryCreativeStats(),
    )
    base = _request()
    imp = base.imp[0].model_copy(update={"bidfloor": 0.0001})
    for i in range(repeat + 100):
        request = base.model_copy(update={"id": f"r{i}", "imp": [imp]})
        await router.request_bids(request, 0.05)
    models.current = live
    if len(ctr_us) != len(cvr_us):
        raise RuntimeError("a request scored one model only")
    return [a + b for a, b in zip(ctr_us, cvr_us, strict=True)][100:]


def inside_router_timings(rows: tuple[int, ...] = (8, 100), repeat: int = 2000) -> list[Row]:
    """(label, median µs, p99 µs): both models' predict calls per request in the router."""
    holders = {
        "compiled": ModelHolder(_MODELS, FALLBACK_RATES, build=DEFAULT_BUILD),
        "xgboost-c": ModelHolder(_MODELS, FALLBACK_RATES, build=None),
    }
    if holders["compiled"].scoring_path != "compiled":
        del holders["compiled"]  # no compiler here: say so by the missing row
    out = []
    for n in rows:
        campaigns = _matching_campaigns(n)
        for path, holder in holders.items():
            samples = asyncio.run(_scoring_in_router(holder, campaigns, repeat))
            median, p99 = median_p99(samples)
            out.append((f"in the router, {n} rows: CTR + CVR predict ({path})", median, p99))
    return out


def model_timings(
    sizes: tuple[int, ...] = (10, 100, 1000), repeats: int = 2000
) -> list[tuple[str, float, float]]:
    """The router section's model rows: features + predictions, every path side by side,
    and the scoring inside the router."""
    return [
        *_features_and_predict(sizes, repeats),
        *path_timings(),
        *inside_router_timings(),
    ]


if __name__ == "__main__":
    for label, median_us, p99_us in model_timings():
        print(f"{label:70s} median {median_us:9.1f} µs   p99 {p99_us:9.1f} µs")
