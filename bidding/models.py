"""CTR and CVR models: loading, batched prediction, the rule-based fallback, hot reload.

This is the only module that imports xgboost, so the library's quirks stay here (thread
count, file formats, early-stopped boosters carrying extra trees).

A model file is an XGBoost booster (UBJ or JSON) that carries, as booster attributes,
the feature schema version and the ordered feature names it was trained on; a file whose
schema differs from ``bidding.features`` is refused with ``ModelError`` — a silently
misaligned feature vector would bid nonsense at full speed. A file that misses the quality
bar (``bidding.quality``: too few trees, no better than the constant on its held-out
figures) is refused the same way.

Serving scores all candidates of one request with one call per model, on one thread (one
process per core, and a thread pool inside a 5 ms budget only adds jitter). A model loaded
from a file is scored, in order of preference, by (``scoring_path``):

- ``compiled``: its trees compiled to C (``bidding.compiled_predict``), a tenth of XGBoost's
  cost for a request's few rows, used only if it agrees with XGBoost to ``COMPILED_TOLERANCE``
  on probe rows (new builds also on rows at every split threshold);
- ``xgboost-c``: XGBoost's own C function called directly (``bidding.dense_predict``), a
  third of ``inplace_predict``'s cost, used only if bit-identical to it;
- ``xgboost``: ``Booster.inplace_predict``.

Whatever stops a faster path (no compiler, treelite or tl2cgen missing, a failed build, a
disagreement) is logged and kept in ``scoring_problem``; XGBoost stays the training library
and the reference every faster path is checked against.

``ModelHolder`` owns the live models. A reload builds and validates the new pair
completely before it replaces the reference in one assignment, so a request already
holding the old pair finishes with it and no request ever sees a half-loaded model; a
reload that fails keeps the old pair and reports why.

Errors::

    ModelError (ValueError)  a model file that cannot be used: missing, corrupt, wrong schema
"""

import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, Protocol, TypeAlias

import numpy as np
import structlog
import xgboost as xgb
from numpy.typing import NDArray

from bidding.compiled_predict import (
    BuildOptions,
    CompiledPredictor,
    CompileUnavailable,
    Reference,
)
from bidding.dense_predict import DensePredictor
from bidding.features import FEATURE_NAMES, N_FEATURES, SCHEMA_VERSION, FeatureMatrix
from bidding.quality import HELD_OUT_ATTR, SERVING_BAR, HeldOut, QualityBar

__all__ = [
    "COMPILED_TOLERANCE",
    "DEFAULT_BUILD",
    "LOG_ENCODING_ATTR",
    "LOG_SCHEMA",
    "MODEL_FILES",
    "P_MAX",
    "P_MIN",
    "RELOAD_OUTCOMES",
    "ConstantModel",
    "CtrCvrModels",
    "LogBooster",
    "Model",
    "ModelError",
    "ModelHolder",
    "Probabilities",
    "RuleBasedModel",
    "Scorer",
    "Scores",
    "ScoringPath",
    "XGBoostModel",
    "booster_params",
    "cut_to_best_round",
    "fit",
    "fit_log_model",
    "is_log_model",
    "load_models",
    "serving_model",
]

log = structlog.get_logger("bidding.models")

Probabilities: TypeAlias = NDArray[np.float32]
ScoringPath: TypeAlias = Literal["compiled", "xgboost-c", "xgboost"]
_SPEED: Final[dict[str, int]] = {"compiled": 0, "xgboost-c": 1, "xgboost": 2}
COMPILED_TOLERANCE: Final = 1e-6
"""Largest difference from XGBoost's probability a compiled model may show on probe rows."""
DEFAULT_BUILD: Final = BuildOptions()
"""How models loaded from files are compiled: per-user temporary cache, ``$CC`` or ``cc``."""
P_MIN: Final = 1e-6
P_MAX: Final = 1.0 - 1e-6
MODEL_FILES: Final = {"ctr": "ctr.ubj", "cvr": "cvr.ubj"}
DEFAULT_MODEL_DIR: Final = Path(__file__).resolve().parent / "model_files"
"""The small models trained by ``rtb train`` on synthetic traffic that ship with the code."""
"""The file of each model kind inside a model directory."""
_SCHEMA_ATTR: Final = "rtb_schema_version"
LOG_SCHEMA: Final = "log"
"""The schema attribute of a model over a declared log's features (``LogBooster``)."""
LOG_ENCODING_ATTR: Final = "rtb_log_encoding"
_NAMES_ATTR: Final = "rtb_feature_names"


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""


class Model(Protocol):
    """One binary-outcome model: a probability per feature row."""

    def predict(self, matrix: FeatureMatrix) -> Probabilities: ...


class Scores(NamedTuple):
    """pCTR and pCVR (given a click) per candidate row; ``degraded`` when any came from
    the rule-based fallback rather than a trained model."""

    pctr: Probabilities
    pcvr: Probabilities
    degraded: bool


class Scorer(Protocol):
    """What the router calls: both probabilities for all candidates at once."""

    @property
    def degraded(self) -> bool: ...

    def predict(self, matrix: FeatureMatrix) -> Scores: ...


def _check_width(matrix: FeatureMatrix) -> None:
    if matrix.ndim != 2 or matrix.shape[1] != N_FEATURES:
        raise ValueError(f"feature matrix of shape {matrix.shape}: need (n, {N_FEATURES})")


def _read_booster(path: Path) -> xgb.Booster:
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        return xgb.Booster(model_file=str(path))
    except Exception as exc:  # XGBoostError, or OSError/UnicodeError from the reader
        # The first line only: XGBoost's message goes on with a native stack trace, which
        # /readyz (public) must not show.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path}: not a readable XGBoost model ({reason})") from exc


def is_log_model(path: Path) -> bool:
    """Whether the model file ``path`` is over a declared log's features (``LogBooster``,
    ``rtb train --schema``) rather than the serving schema's; ModelError when unreadable."""
    return bool(_read_booster(path).attr(_SCHEMA_ATTR) == LOG_SCHEMA)


class _BoosterFile:
    """What every trained booster offers its trainer: size, held-out figures, saving."""

    __slots__ = ()
    _booster: xgb.Booster

    def save(self, path: Path) -> None:
        """Write the booster atomically (temporary file, then rename): a watcher never
        reads half a file. The format follows the suffix (``.ubj`` or ``.json``)."""
        temporary = path.with_name(f".{path.name}.tmp{path.suffix}")
        self._booster.save_model(str(temporary))
        os.replace(temporary, path)

    @property
    def trees(self) -> int:
        """Boosting rounds in the model."""
        rounds: int = self._booster.num_boosted_rounds()
        return rounds

    def gain_shares(self, names: Sequence[str]) -> dict[str, float]:
        """Each used feature's share of the loss reduction its splits bought (``names``
        name the columns in order), largest first: what the model learnt from."""
        scores = self._booster.get_score(importance_type="total_gain")
        # A list only for multi-output trees, which these are not; summed to stay total.
        gains = {key: sum(v) if isinstance(v, list) else v for key, v in scores.items()}
        total = sum(gains.values()) or 1.0
        # Keyed by name in a booster that carries them, by f<column> in one that does not.
        unnamed = {f"f{i}": name for i, name in enumerate(names)}
        shares = {unnamed.get(key, key): gain / total for key, gain in gains.items()}
        return dict(sorted(shares.items(), key=lambda item: -item[1]))

    @property
    def held_out(self) -> HeldOut | None:
        """The held-out figures stored by ``rtb train`` (None in an older file)."""
        return _held_out(self._booster)

    def record_held_out(self, held_out: HeldOut) -> None:
        """Store ``held_out`` in the booster, so the file carries its own figures."""
        self._booster.set_attr(**{HELD_OUT_ATTR: json.dumps(held_out.to_json(), allow_nan=False)})


class XGBoostModel(_BoosterFile):
    """A trained booster with its training metadata, scored by the fastest path that
    agrees with XGBoost (module docstring); ``build`` None skips the compiled one."""

    __slots__ = ("_booster", "_compiled", "_native", "path", "scoring_problem")

    def __init__(
        self, booster: xgb.Booster, path: Path | None = None, *, build: BuildOptions | None = None
    ) -> None:
        booster.set_param({"nthread": 1})
        self._booster = booster
        self.path = path
        self.scoring_problem: str | None = None
        """Why the model is not on the compiled path (None when it is, or was not asked)."""
        self._compiled = self._compile(build) if build is not None else None
        self._native = (
            DensePredictor.for_booster(booster, _probe_rows()) if self._compiled is None else None
        )

    def _compile(self, build: BuildOptions) -> CompiledPredictor | None:
        """The compiled predictor, checked against XGBoost on the probe rows (a new build
        also on rows at every split threshold); None, logged, when there is none."""
        try:
            raw = bytes(self._booster.save_raw("ubj"))
            return CompiledPredictor.for_model(
                raw,
                N_FEATURES,
                build,
                probe=self._reference(_probe_rows()),
                thorough=lambda: self._reference(
                    np.vstack([_probe_rows(), _threshold_rows(self._booster)])
                ),
            )
        except Exception as exc:  # any failure here means: keep XGBoost
            self.scoring_problem = str(exc) if isinstance(exc, CompileUnavailable) else repr(exc)
            log.warning(
                "compiled_predict_unavailable", model=str(self.path), reason=self.scoring_problem
            )
            return None

    def _reference(self, rows: FeatureMatrix) -> Reference:
        expected = self._booster.inplace_predict(rows, validate_features=False)
        return Reference(rows, np.asarray(expected, np.float32), COMPILED_TOLERANCE)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        build: BuildOptions | None = DEFAULT_BUILD,
        bar: QualityBar | None = SERVING_BAR,
    ) -> "XGBoostModel":
        """Load and validate a model file; ModelError when missing, corrupt, mismatched or
        below ``bar`` (None: no quality check)."""
        booster = _read_booster(path)
        version = booster.attr(_SCHEMA_ATTR)
        if version == LOG_SCHEMA:
            raise ModelError(
                f"{path}: a model of a declared log schema (rtb train --schema): it scores "
                "logs (bidding.log_model), not bid requests; train on the serving schema"
            )
        if version != str(SCHEMA_VERSION):
            raise ModelError(
                f"{path}: feature schema version {version!r}, this build needs "
                f"{SCHEMA_VERSION}: retrain with `rtb train`"
            )
        names = booster.attr(_NAMES_ATTR)
        if names is None or tuple(json.loads(names)) != FEATURE_NAMES:
            raise ModelError(f"{path}: feature names differ from bidding.features")
        if booster.num_features() != N_FEATURES:
            raise ModelError(f"{path}: {booster.num_features()} features, need {N_FEATURES}")
        if bar is not None:
            try:
                held_out = _held_out(booster)
            except ValueError as exc:
                raise ModelError(f"{path}: {exc}") from exc
            problems = bar.problems(booster.num_boosted_rounds(), held_out)
            if problems:
                raise ModelError(f"{path}: refused, below the quality bar: {'; '.join(problems)}")
        model = cls(booster, path, build=build)
        model.predict(np.zeros((1, N_FEATURES), dtype=np.float32))  # fails now, not at serve
        return model

    def predict(self, matrix: FeatureMatrix) -> Probabilities:
        """P(label) for every row, in one call; clipped to [P_MIN, P_MAX]."""
        _check_width(matrix)
        if self._compiled is not None:
            return self._compiled.predict(matrix, P_MIN, P_MAX)
        if self._native is not None:
            raw = self._native.predict(matrix)
        else:
            raw = np.asarray(
                self._booster.inplace_predict(matrix, validate_features=False), np.float32
            )
        return np.clip(raw, P_MIN, P_MAX, out=raw)

    @property
    def library(self) -> Path | None:
        """The compiled library serving this model (None off the compiled path)."""
        return self._compiled.path if self._compiled is not None else None

    @property
    def scoring_path(self) -> ScoringPath:
        """Which code computes the predictions (module docstring)."""
        if self._compiled is not None:
            return "compiled"
        return "xgboost-c" if self._native is not None else "xgboost"


def _held_out(booster: xgb.Booster) -> HeldOut | None:
    text = booster.attr(HELD_OUT_ATTR)
    return None if text is None else HeldOut.from_json(text)


def _probe_rows() -> FeatureMatrix:
    """Rows on which the direct C path must agree with ``inplace_predict``: values across
    the features' ranges, some missing (NaN), reproducible."""
    rng = np.random.default_rng(20_240_601)
    rows = rng.uniform(-2.0, 2_000.0, size=(64, N_FEATURES)).astype(np.float32)
    rows[:16] = rng.integers(0, 8, size=(16, N_FEATURES))
    rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


def _threshold_rows(booster: xgb.Booster) -> FeatureMatrix:
    """Rows with every feature on, and just below, one of its split thresholds (each
    threshold in some row): where a compiled comparison that differs from XGBoost's (``<``
    against ``<=``, a threshold rounded when written as C) would show."""
    document = json.loads(bytes(booster.save_raw("json")))
    thresholds: dict[int, set[float]] = {}
    for tree in document["learner"]["gradient_booster"]["model"]["trees"]:
        splits = zip(
            tree["left_children"], tree["split_indices"], tree["split_conditions"], strict=True
        )
        for left, feature, threshold in splits:
            if left != -1:
                thresholds.setdefault(feature, set()).add(threshold)
    if not thresholds:
        return np.empty((0, N_FEATURES), np.float32)
    count = max(len(values) for values in thresholds.values())
    at = np.random.default_rng(7).uniform(0.0, 1_000.0, size=(count, N_FEATURES))
    at = at.astype(np.float32)
    for feature, values in thresholds.items():
        ordered = np.array(sorted(values), np.float32)
        at[:, feature] = ordered[np.arange(count) % len(ordered)]
    below = np.nextafter(at, np.float32(-np.inf))
    return np.vstack([at, below])


def _boost(
    train: NDArray[np.float32],
    train_labels: NDArray[np.float32],
    valid: NDArray[np.float32],
    valid_labels: NDArray[np.float32],
    names: list[str],
    *,
    params: Mapping[str, Any],
    rounds: int,
    early_stopping_rounds: int,
    seed: int,
    progress: str | None,
) -> xgb.Booster:
    """A ``binary:logistic`` booster early-stopped on ``valid``, cut to its best round
    (XGBoost keeps the extra rounds otherwise)."""
    dtrain = xgb.DMatrix(train, label=train_labels, feature_names=names)
    dvalid = xgb.DMatrix(valid, label=valid_labels, feature_names=names)
    booster = xgb.train(
        booster_params(params, seed),
        dtrain,
        num_boost_round=rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
        callbacks=[_RoundsBar(progress, rounds)] if progress is not None else None,
    )
    return cut_to_best_round(booster)


def booster_params(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """XGBoost's parameters for a click or conversion model: ``params`` (``TrainConfig``)
    on a logistic objective judged by log loss."""
    return {"objective": "binary:logistic", "eval_metric": "logloss", "seed": seed, **params}


def cut_to_best_round(booster: xgb.Booster) -> xgb.Booster:
    """``booster`` without the rounds after its best on the validation set (early stopping
    keeps them otherwise)."""
    best = booster.best_iteration
    if best + 1 < booster.num_boosted_rounds():
        return booster[: best + 1]
    return booster


def fit(
    train: FeatureMatrix,
    train_labels: NDArray[np.float32],
    valid: FeatureMatrix,
    valid_labels: NDArray[np.float32],
    *,
    params: Mapping[str, Any],
    rounds: int,
    early_stopping_rounds: int,
    seed: int,
    progress: str | None = None,
) -> XGBoostModel:
    """Train a serving model (``bidding.features``) with early stopping on ``valid``; it
    carries the feature schema as booster attributes. ``progress``: a tqdm bar of the
    rounds on stderr, with this label."""
    booster = _boost(train, train_labels, valid, valid_labels, list(FEATURE_NAMES),
                     params=params, rounds=rounds, early_stopping_rounds=early_stopping_rounds,
                     seed=seed, progress=progress)  # fmt: skip
    return serving_model(booster)


def serving_model(booster: xgb.Booster) -> XGBoostModel:
    """A booster trained on the serving features, stamped with their schema (what the
    exchange checks when it loads the file)."""
    booster.set_attr(
        **{_SCHEMA_ATTR: str(SCHEMA_VERSION), _NAMES_ATTR: json.dumps(list(FEATURE_NAMES))}
    )
    return XGBoostModel(booster)


def fit_log_model(
    train: NDArray[np.float32],
    train_labels: NDArray[np.float32],
    valid: NDArray[np.float32],
    valid_labels: NDArray[np.float32],
    *,
    names: tuple[str, ...],
    encoding: Mapping[str, Any],
    params: Mapping[str, Any],
    rounds: int,
    early_stopping_rounds: int,
    seed: int,
    progress: str | None = None,
) -> "LogBooster":
    """Train a model over a declared log's features (``bidding.log_encoding``): as
    ``fit``, with the encoder's state stored in the booster."""
    booster = _boost(train, train_labels, valid, valid_labels, list(names), params=params,
                     rounds=rounds, early_stopping_rounds=early_stopping_rounds, seed=seed,
                     progress=progress)  # fmt: skip
    booster.set_attr(
        **{
            _SCHEMA_ATTR: LOG_SCHEMA,
            _NAMES_ATTR: json.dumps(list(names)),
            LOG_ENCODING_ATTR: json.dumps(encoding, allow_nan=False),
        }
    )
    return LogBooster(booster)


class LogBooster(_BoosterFile):
    """A booster over a declared log's features, not the serving ones: what ``rtb train
    --schema`` writes and offline tools (``rtb replay``) score. The exchange refuses such a
    file (its schema attribute is ``LOG_SCHEMA``); ``bidding.log_model`` pairs it with its
    encoder."""

    __slots__ = ("_booster", "path")

    def __init__(self, booster: xgb.Booster, path: Path | None = None) -> None:
        booster.set_param({"nthread": 1})
        self._booster = booster
        self.path = path

    @classmethod
    def load(cls, path: Path) -> "LogBooster":
        """Read a file ``fit_log_model`` wrote; ModelError when it is not one."""
        booster = _read_booster(path)
        if booster.attr(_SCHEMA_ATTR) != LOG_SCHEMA or booster.attr(LOG_ENCODING_ATTR) is None:
            raise ModelError(f"{path}: not a model of a declared log schema (rtb train --schema)")
        return cls(booster, path)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input columns, in order."""
        return tuple(json.loads(self._booster.attr(_NAMES_ATTR) or "[]"))

    @property
    def encoding(self) -> dict[str, Any]:
        """The encoder state stored at training (``LogEncoder.to_json``)."""
        data: dict[str, Any] = json.loads(self._booster.attr(LOG_ENCODING_ATTR) or "{}")
        return data

    def predict(self, matrix: NDArray[np.float32]) -> Probabilities:
        """P(label) for every row; clipped to [P_MIN, P_MAX]."""
        width = len(self.feature_names)
        if matrix.ndim != 2 or matrix.shape[1] != width:
            raise ValueError(f"feature matrix of shape {matrix.shape}: need (n, {width})")
        raw = np.asarray(self._booster.inplace_predict(matrix, validate_features=False))
        return np.clip(raw.astype(np.float32), P_MIN, P_MAX)


class _RoundsBar(xgb.callback.TrainingCallback):
    """One tick per boosting round; closed (at the round early stopping ended on) after."""

    def __init__(self, label: str, rounds: int) -> None:
        from tqdm import tqdm  # imported here: serving never trains

        super().__init__()
        self._bar = tqdm(total=rounds, desc=label, unit="round", file=sys.stderr)

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        self._bar.update(1)
        return False

    def after_training(self, model: xgb.Booster) -> xgb.Booster:
        self._bar.close()
        return model


@dataclass(frozen=True, slots=True)
class ConstantModel:
    """The same probability for every row: the fallback for one missing model."""

    p: float

    def predict(self, matrix: FeatureMatrix) -> Probabilities:
        """``p`` for every row."""
        return np.full(len(matrix), self.p, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class RuleBasedModel:
    """Average CTR and CVR for every candidate: what bids when no model is usable.

    The router may prefer each campaign's own historical averages when ``degraded``.
    """

    avg_ctr: float
    avg_cvr: float
    problems: tuple[str, ...] = ()
    degraded: bool = field(default=True, init=False)

    @property
    def paths(self) -> dict[str, str]:
        """No model computes anything: ``rules`` for both."""
        return {"ctr": "rules", "cvr": "rules"}

    @property
    def path_problems(self) -> tuple[str, ...]:
        """Nothing to compile."""
        return ()

    def predict(self, matrix: FeatureMatrix) -> Scores:
        """The averages, one row per candidate."""
        n = len(matrix)
        return Scores(
            np.full(n, self.avg_ctr, dtype=np.float32),
            np.full(n, self.avg_cvr, dtype=np.float32),
            True,
        )


@dataclass(frozen=True, slots=True)
class CtrCvrModels:
    """A CTR and a CVR model used together; either may be a ConstantModel stand-in."""

    ctr: Model
    cvr: Model
    problems: tuple[str, ...] = ()
    """Why a model is a stand-in (empty when both are trained models)."""

    @property
    def degraded(self) -> bool:
        """Whether either model is a stand-in (``/readyz`` reports it)."""
        return not (isinstance(self.ctr, XGBoostModel) and isinstance(self.cvr, XGBoostModel))

    @property
    def paths(self) -> dict[str, str]:
        """The scoring path of each model (``constant`` for a stand-in)."""
        return {
            kind: model.scoring_path if isinstance(model, XGBoostModel) else "constant"
            for kind, model in (("ctr", self.ctr), ("cvr", self.cvr))
        }

    @property
    def path_problems(self) -> tuple[str, ...]:
        """Why trained models are not on the compiled path."""
        models = (self.ctr, self.cvr)
        return tuple(
            m.scoring_problem
            for m in models
            if isinstance(m, XGBoostModel) and m.scoring_problem is not None
        )

    def predict(self, matrix: FeatureMatrix) -> Scores:
        """Both probabilities for every row: one call per model for the whole batch."""
        return Scores(self.ctr.predict(matrix), self.cvr.predict(matrix), self.degraded)


def load_models(
    directory: Path,
    fallback: RuleBasedModel,
    *,
    build: BuildOptions | None = DEFAULT_BUILD,
    bar: QualityBar | None = SERVING_BAR,
) -> CtrCvrModels | RuleBasedModel:
    """The models in ``directory``; each unusable one (``bar`` included) is replaced by the
    fallback's average (with the reason in ``problems``), and both unusable gives the
    fallback. Compiled as ``build`` says (None: XGBoost only), before this returns."""
    loaded: dict[str, Model] = {}
    problems: list[str] = []
    for kind, name in MODEL_FILES.items():
        try:
            loaded[kind] = XGBoostModel.load(directory / name, build=build, bar=bar)
        except ModelError as exc:
            problems.append(str(exc))
    if not loaded:
        return RuleBasedModel(fallback.avg_ctr, fallback.avg_cvr, tuple(problems))
    return CtrCvrModels(
        loaded.get("ctr", ConstantModel(fallback.avg_ctr)),
        loaded.get("cvr", ConstantModel(fallback.avg_cvr)),
        tuple(problems),
    )


FALLBACK_RATES: Final = RuleBasedModel(avg_ctr=0.001, avg_cvr=0.01)
RELOAD_OUTCOMES: Final = ("reloaded", "refused", "failed")
"""Network-wide averages for a model that cannot load (campaigns' own averages come first)."""

_Signature: TypeAlias = tuple[tuple[int, int] | None, ...]


class ModelHolder:
    """The live models of one process, swapped whole on reload.

    Readers take ``holder.current`` once per request and use that object throughout; the
    swap is one reference assignment. ``reload_if_changed`` compares the model files'
    modification times and sizes, cheap enough to call every second. A reload compiles the
    new models before the swap, in the caller's thread (``exchange.model_reload`` uses a worker
    thread; a cached build takes milliseconds, a new one seconds). ``reloads`` counts the
    outcomes of every reload, whoever asked for it (``reloaded``, ``refused``, ``failed``).
    """

    def __init__(
        self,
        directory: Path,
        fallback: RuleBasedModel,
        *,
        build: BuildOptions | None = DEFAULT_BUILD,
        bar: QualityBar | None = SERVING_BAR,
    ) -> None:
        self.directory = directory
        self.fallback = fallback
        self.build = build
        self.bar = bar
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.reloads: dict[str, int] = dict.fromkeys(RELOAD_OUTCOMES, 0)
        self._signature = self._stat()
        self.current: CtrCvrModels | RuleBasedModel = load_models(
            directory, fallback, build=build, bar=bar
        )

    @property
    def degraded(self) -> bool:
        """Whether the live models include a rule-based stand-in."""
        return self.current.degraded

    @property
    def scoring_path(self) -> str:
        """The slowest path among the live trained models (``/readyz``): ``compiled``,
        ``xgboost-c`` or ``xgboost``; ``rules`` when no trained model is live."""
        trained = [p for p in self.current.paths.values() if p in _SPEED]
        return max(trained, key=_SPEED.__getitem__) if trained else "rules"

    def _stat(self) -> _Signature:
        out: list[tuple[int, int] | None] = []
        for name in MODEL_FILES.values():
            try:
                stat = (self.directory / name).stat()
            except OSError:
                out.append(None)
            else:
                out.append((stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def reload(self, *, force: bool = False) -> bool:
        """Load the directory again and swap it in; False (old models kept, reason in
        ``last_error``) when the new files are worse than the live ones — a trained model
        is not replaced by a stand-in because a file was half copied, corrupt or below the
        quality bar, unless ``force`` (an operator removing a model on purpose)."""
        with self._lock:
            signature = self._stat()
            try:
                candidate = load_models(
                    self.directory, self.fallback, build=self.build, bar=self.bar
                )
            except Exception:
                self.reloads["failed"] += 1
                raise
            self._signature = signature
            if not force and _worse(candidate, self.current):
                self.last_error = "; ".join(candidate.problems) or "fewer trained models"
                self.reloads["refused"] += 1
                return False
            self.current = candidate
            self.last_error = None
            self.reloads["reloaded"] += 1
            return True

    def reload_if_changed(self) -> bool:
        """Reload when a model file changed since the last load; True if swapped."""
        if self._stat() == self._signature:
            return False
        return self.reload()


def _worse(candidate: CtrCvrModels | RuleBasedModel, live: CtrCvrModels | RuleBasedModel) -> bool:
    """Fewer trained models, or as many with a problem the live ones do not have (a new
    file refused where a stand-in already serves: nothing to gain, and worth a warning)."""
    gained = _trained_count(candidate) - _trained_count(live)
    return gained < 0 or (gained == 0 and bool(set(candidate.problems) - set(live.problems)))


def _trained_count(models: CtrCvrModels | RuleBasedModel) -> int:
    if isinstance(models, RuleBasedModel):
        return 0
    return sum(isinstance(m, XGBoostModel) for m in (models.ctr, models.cvr))
