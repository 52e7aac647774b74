"""One booster's predictions for a dense float32 matrix through XGBoost's C API.

Why not ``Booster.inplace_predict``: it calls the same C function,
``XGBoosterPredictFromDense``, but around it the Python wrapper spends far more than the
prediction itself for the few rows of one bid request (docs/performance.md, "Model
calls"): it encodes its JSON config again, tests the input against a dozen data-frame
types, has XGBoost build a new proxy ``DMatrix`` (and with it a fresh ``Context``), and
reads the result back through a class it defines per call. Here the config is encoded
once, the proxy ``DMatrix`` lives as long as the predictor, and the output is copied out
with one ``memmove``.

Guards, since this bypasses the wrapper: the C functions are XGBoost's documented C API
(``c_api.h``) and the project pins XGBoost below 4; the library must be the very one the
``xgboost`` package loaded (same ``dlopen`` handle), or booster handles would be foreign;
and ``DensePredictor.for_booster`` returns ``None`` (the caller keeps ``inplace_predict``)
unless the native call gives bit-identical results on probe rows, which catches a changed
config, missing-value handling or output layout — not a changed function signature, which
the version pin is for.

Not re-entrant per instance (the proxy ``DMatrix`` holds the current input): a lock
guards it, uncontended on the event loop that makes every call.
"""

import ctypes
import math
import threading
import weakref
from typing import Any, Final

import numpy as np
import structlog
import xgboost as xgb
from numpy.typing import NDArray
from xgboost.libpath import find_lib_path

__all__ = ["DensePredictor"]

log = structlog.get_logger("bidding.models")

_bst_ulong = ctypes.c_uint64
_CONFIG: Final = (
    b'{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, '
    b'"missing": NaN, "strict_shape": false, "cache_id": 0}'
)
"""Plain probabilities of all trees; NaN marks a missing value (as in ``inplace_predict``)."""


class _NativeError(RuntimeError):
    """The C API returned an error code; the message is XGBoost's own."""


def _load_library() -> ctypes.CDLL:
    library = ctypes.CDLL(find_lib_path()[0])
    loaded = getattr(getattr(xgb, "core", None), "_LIB", None)
    if loaded is None or getattr(loaded, "_handle", None) != library._handle:
        raise OSError("not the libxgboost the xgboost package loaded")
    library.XGBGetLastError.restype = ctypes.c_char_p
    library.XGBGetLastError.argtypes = []
    library.XGProxyDMatrixCreate.restype = ctypes.c_int
    library.XGProxyDMatrixCreate.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    library.XGDMatrixFree.restype = ctypes.c_int
    library.XGDMatrixFree.argtypes = [ctypes.c_void_p]
    library.XGBoosterPredictFromDense.restype = ctypes.c_int
    library.XGBoosterPredictFromDense.argtypes = [
        ctypes.c_void_p,  # booster
        ctypes.c_char_p,  # array interface of the input
        ctypes.c_char_p,  # config
        ctypes.c_void_p,  # proxy DMatrix
        ctypes.POINTER(ctypes.POINTER(_bst_ulong)),  # out: shape
        ctypes.POINTER(_bst_ulong),  # out: number of dimensions
        ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),  # out: values
    ]
    return library


_library: ctypes.CDLL | None = None
_library_lock = threading.Lock()


def _lib() -> ctypes.CDLL:
    global _library
    if _library is None:
        with _library_lock:  # models load in a worker thread and on the event loop
            if _library is None:
                _library = _load_library()
    return _library


def _check(code: int) -> None:
    if code != 0:
        message = _lib().XGBGetLastError()
        raise _NativeError(message.decode(errors="replace") if message else "XGBoost error")


def _free_proxy(handle: ctypes.c_void_p) -> None:
    _lib().XGDMatrixFree(handle)


class DensePredictor:
    """Probabilities of one booster for float32 rows, one C call per matrix."""

    __slots__ = (
        "__weakref__",
        "_booster",
        "_dims",
        "_lock",
        "_n_features",
        "_proxy",
        "_shape",
        "_values",
    )

    def __init__(self, booster: xgb.Booster) -> None:
        lib = _lib()
        self._booster = booster  # keeps the handle alive
        self._n_features = booster.num_features()
        self._proxy = ctypes.c_void_p()
        _check(lib.XGProxyDMatrixCreate(ctypes.byref(self._proxy)))
        # Not at interpreter exit: a thread still predicting then must not meet a freed proxy.
        weakref.finalize(self, _free_proxy, self._proxy).atexit = False
        self._lock = threading.Lock()
        self._shape = ctypes.POINTER(_bst_ulong)()
        self._dims = _bst_ulong()
        self._values = ctypes.POINTER(ctypes.c_float)()

    @classmethod
    def for_booster(
        cls, booster: xgb.Booster, probe: NDArray[np.float32]
    ) -> "DensePredictor | None":
        """A predictor for ``booster`` if its results equal ``inplace_predict``'s on the
        ``probe`` rows bit for bit; None (use the wrapper) otherwise."""
        try:
            predictor = cls(booster)
            native = predictor.predict(probe)
        except Exception as exc:  # any failure here means: keep the wrapper
            log.warning("native_predict_unavailable", error=repr(exc))
            return None
        wrapped = np.asarray(booster.inplace_predict(probe, validate_features=False), np.float32)
        if native.shape != wrapped.shape or not np.array_equal(native, wrapped):
            log.warning("native_predict_disagrees", xgboost=xgb.__version__)
            return None
        return predictor

    def predict(self, matrix: NDArray[Any]) -> NDArray[np.float32]:
        """One probability per row of a (n, features) matrix; other layouts and number types
        are copied to C-ordered, aligned float32 first (what XGBoost computes in anyway)."""
        if matrix.ndim != 2 or matrix.shape[1] != self._n_features:
            raise ValueError(f"need rows of {self._n_features} features, got {matrix.shape}")
        rows, width = matrix.shape
        if rows == 0:
            return np.empty(0, np.float32)
        matrix = np.require(matrix, np.float32, ["C_CONTIGUOUS", "ALIGNED"])
        interface = (
            f'{{"data": [{matrix.ctypes.data}, true], "shape": [{rows}, {width}], '
            f'"strides": null, "typestr": "<f4", "version": 3}}'
        ).encode()
        out = np.empty(rows, np.float32)
        with self._lock:
            _check(
                _lib().XGBoosterPredictFromDense(
                    self._booster.handle,
                    interface,
                    _CONFIG,
                    self._proxy,
                    ctypes.byref(self._shape),
                    ctypes.byref(self._dims),
                    ctypes.byref(self._values),
                )
            )
            size = math.prod(self._shape[i] for i in range(self._dims.value))
            if size != rows:
                raise _NativeError(f"{size} predictions for {rows} rows")
            ctypes.memmove(out.ctypes.data, self._values, rows * 4)
        return out
