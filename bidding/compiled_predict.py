"""A booster compiled to C: the trees as nested comparisons in a shared library.

Why: for the few rows of one bid request, XGBoost's own prediction is mostly fixed cost
(it re-lays the top levels of every tree per call), while the trees themselves take
microseconds; treelite reads the booster and tl2cgen writes its trees as C, which a C
compiler turns into a library whose ``predict`` walks one row with no setup at all
(docs/performance.md, "Model calls"; docs/decisions.md, "Compiled trees"). The row loop and
the NaN-to-missing step are a few lines of C of our own (``_WRAPPER``), so one ``ctypes``
call scores a whole matrix into a preallocated buffer.

The build needs treelite, tl2cgen and a C compiler (``$CC``, else ``cc``); it runs in a
child process, at a lower priority so that a hot reload's build yields the core to serving,
and that child also loads the new library first and checks it against the caller's
``Reference`` (XGBoost's probabilities for probe rows): neither library's log lines nor
warnings, a crash, nor a library that changes the process's floating-point mode when loaded
(``-ffast-math`` in ``$CC`` does that) ever reach the serving process. Libraries are cached
by a key of the model's bytes, the generator versions, this module's ABI and the platform,
in a directory only this user can write (a library is code this process will run): a cached
library loads in milliseconds on any later start, by any worker, compiler or not, and is
checked again on the quick probe rows. Concurrent builders of the same key take turns on a
lock file and the first one's result serves the rest; a build enters the cache by rename
only once it passed, so the cache holds finished, checked libraries only.

Anything that stops the compiled path raises ``CompileUnavailable`` with the reason, for
the caller to log and fall back on.

Errors::

    CompileUnavailable (RuntimeError)  no compiled predictor for this model, and why
"""

import contextlib
import ctypes
import fcntl
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np
import structlog
from numpy.typing import NDArray

__all__ = ["ABI", "BuildOptions", "CompileUnavailable", "CompiledPredictor", "default_cache_dir"]

log = structlog.get_logger("bidding.models")

ABI: Final = 2
"""Bump when ``_WRAPPER``, the compiler flags or the call below change: old libraries then
miss the cache instead of being loaded."""
_FLAGS: Final = ("-O1", "-fPIC", "-std=c99")
"""-O1: as fast as -O2/-O3 on these branch trees, in a third of the compile time."""
_TREES_PER_UNIT: Final = 6
_MAX_UNITS: Final = 32
"""tl2cgen's ``parallel_comp``: small translation units compile faster than one huge
function and in parallel; past ~32 the compiler's start-up per unit dominates."""
_WRAPPER: Final = """\
#include "header.h"
#include <math.h>
#include <stdint.h>
#if N_TARGET != 1 || MAX_N_CLASS != 1
#error "one probability per row only"
#endif
const char* rtb_key(void) {{ return "{key}"; }}
void rtb_predict(const float* rows, int64_t n_rows, float* out, float low, float high) {{
  union Entry entry[{n_features}];
  for (int64_t r = 0; r < n_rows; ++r) {{
    const float* row = rows + r * {n_features};
    for (int j = 0; j < {n_features}; ++j) {{
      if (isnan(row[j])) {{ entry[j].missing = -1; }} else {{ entry[j].fvalue = row[j]; }}
    }}
    float result = 0.0f;
    predict(entry, 0, &result);
    out[r] = result < low ? low : (result > high ? high : result);
  }}
}}
"""
"""The generated code marks a missing value by ``missing == -1`` (a NaN compares false and
would take the wrong branch); one row of entries lives on the stack; the result is clipped
here, where it costs nothing (``np.clip`` costs a few µs a call)."""
_STAGED_ROWS: Final = 256
"""Matrices up to this many rows pass through buffers allocated once, whose addresses are
known: asking numpy for an array's address costs more than scoring a request's few rows."""

Matrix = NDArray[Any]


class CompileUnavailable(RuntimeError):
    """No compiled predictor for this model; the message says why."""


@dataclass(frozen=True, slots=True)
class Reference:
    """Rows and XGBoost's probabilities for them, which a compiled library must reproduce
    to ``tolerance``."""

    rows: NDArray[np.float32]
    expected: NDArray[np.float32]
    tolerance: float

    def disagreement(self, predictor: "CompiledPredictor") -> str | None:
        """None if ``predictor`` reproduces the expected values, else how it differs."""
        difference = float(np.max(np.abs(predictor.predict(self.rows) - self.expected)))
        if difference <= self.tolerance:  # NaN is not
            return None
        return f"differs from XGBoost by {difference:.1e} on {len(self.rows)} probe rows"


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """Where compiled libraries are cached and what builds them."""

    cache_dir: Path | None = None
    """None: ``default_cache_dir()``. Not a model directory, which may be read-only or
    shared with another user."""
    compiler: str | None = None
    """A C compiler command (may carry arguments); None: ``$CC``, else ``cc``."""
    timeout_s: float = 300.0
    """How long a build (or the wait for another process's build) may take."""


def default_cache_dir() -> Path:
    """A per-user directory in the system's temporary directory: shared by every process
    and test of this user on the machine, writable on a read-only install."""
    return Path(tempfile.gettempdir()) / f"rtb-compiled-{os.getuid()}"


_Predict = Callable[[int, int, int, float, float], None]
_dlclose: Callable[[int], int] | None = getattr(ctypes.CDLL(None), "dlclose", None)
if _dlclose is not None:
    _dlclose.argtypes = [ctypes.c_void_p]  # type: ignore[attr-defined]
    _dlclose.restype = ctypes.c_int  # type: ignore[attr-defined]


class CompiledPredictor:
    """Probabilities of one compiled booster for float32 rows, one C call per matrix.

    The C code keeps nothing between calls; the staging buffers are locked.
    """

    __slots__ = (
        "_library",
        "_lock",
        "_n_features",
        "_out",
        "_out_address",
        "_predict",
        "_rows",
        "_rows_address",
        "key",
        "path",
    )

    def __init__(self, path: Path, key: str, n_features: int) -> None:
        try:
            library = ctypes.CDLL(str(path))
            library.rtb_key.restype = ctypes.c_char_p
            library.rtb_key.argtypes = []
            library.get_num_feature.restype = ctypes.c_int32
            library.get_num_feature.argtypes = []
            library.rtb_predict.restype = None
            library.rtb_predict.argtypes = [
                ctypes.c_void_p,  # rows, C-ordered float32
                ctypes.c_int64,  # how many
                ctypes.c_void_p,  # out: one float32 per row
                ctypes.c_float,  # clipped to [low, high]
                ctypes.c_float,
            ]
        except (OSError, AttributeError) as exc:
            raise CompileUnavailable(f"{path}: not a compiled model ({exc})") from exc
        self._library = library  # keeps the mapping alive as long as the function
        found = library.rtb_key()
        if found != key.encode():
            self.discard()
            raise CompileUnavailable(f"{path}: compiled for another model ({found!r})")
        if library.get_num_feature() != n_features:
            self.discard()
            raise CompileUnavailable(f"{path}: {library.get_num_feature()} features")
        self._predict: _Predict = library.rtb_predict
        self._n_features = n_features
        self._rows = np.empty((_STAGED_ROWS, n_features), np.float32)
        self._rows_address: int = self._rows.ctypes.data
        self._out = np.empty(_STAGED_ROWS, np.float32)
        self._out_address: int = self._out.ctypes.data
        self._lock = threading.Lock()  # guards the staging buffers (uncontended on the loop)
        self.key = key
        self.path = path

    def discard(self) -> None:
        """Unload a library that will never be used: the dynamic loader answers a later
        load of the same path with the library already loaded, so a rejected one must go
        before its replacement can load."""
        if _dlclose is not None:  # else the library stays mapped, unused
            _dlclose(self._library._handle)

    def predict(self, matrix: Matrix, low: float = 0.0, high: float = 1.0) -> NDArray[np.float32]:
        """One probability per row of a (n, features) matrix, clipped to [low, high]; any
        layout and number type (rows are copied to float32 as XGBoost would)."""
        if matrix.ndim != 2 or matrix.shape[1] != self._n_features:
            raise ValueError(f"need rows of {self._n_features} features, got {matrix.shape}")
        rows = matrix.shape[0]
        if rows > _STAGED_ROWS:  # the copy below would cost more than the address
            matrix = np.require(matrix, np.float32, ["C_CONTIGUOUS", "ALIGNED"])
            out = np.empty(rows, np.float32)
            self._predict(matrix.ctypes.data, rows, out.ctypes.data, low, high)
            return out
        with self._lock:
            np.copyto(self._rows[:rows], matrix)
            self._predict(self._rows_address, rows, self._out_address, low, high)
            return self._out[:rows].copy()

    @classmethod
    def for_model(
        cls,
        model_ubj: bytes,
        n_features: int,
        options: BuildOptions,
        *,
        probe: Reference,
        thorough: Callable[[], Reference],
    ) -> "CompiledPredictor":
        """The compiled form of a booster (its UBJSON bytes), from the cache or built now.

        Every library must reproduce ``probe``; a new build must first reproduce
        ``thorough()`` in its build process (asked only when building).
        """
        key = cache_key(model_ubj)
        directory = _private_dir(options.cache_dir or default_cache_dir())
        target = directory / f"{key}.so"
        cached = _load_cached(target, key, n_features, probe)
        if cached is not None:
            return cached
        compiler = _compiler(options.compiler)
        with _turn(directory / f"{key}.lock", options.timeout_s):
            cached = _load_cached(target, key, n_features, probe)  # built while we waited
            if cached is not None:
                return cached
            with tempfile.TemporaryDirectory(prefix=f".build-{key}-", dir=directory) as build:
                started = time.perf_counter()
                built = _build(
                    model_ubj, key, n_features, compiler, Path(build), thorough(), options.timeout_s
                )
                predictor = cls(built, key, n_features)  # loaded from the build's own name
                problem = probe.disagreement(predictor)
                if problem is not None:
                    predictor.discard()
                    raise CompileUnavailable(f"compiled {key}: {problem}")
                os.replace(built, target)
                predictor.path = target
            log.info(
                "model_compiled",
                key=key,
                library=str(target),
                compiler=compiler,
                seconds=round(time.perf_counter() - started, 2),
            )
            return predictor


def cache_key(model_ubj: bytes) -> str:
    """What the library's behaviour depends on: the model, the code generators, this
    module's C and flags, and the platform it loads on. Not the compiler, whose output the
    caller's check judges, so a machine without one can use a library built elsewhere."""
    try:
        versions = f"treelite {metadata.version('treelite')} tl2cgen {metadata.version('tl2cgen')}"
    except metadata.PackageNotFoundError as exc:
        raise CompileUnavailable(f"{exc.name} is not installed") from exc
    digest = hashlib.blake2b(model_ubj, digest_size=16)
    digest.update(f"|{versions}|abi {ABI}|{sys.platform}-{platform.machine()}".encode())
    return digest.hexdigest()


def _private_dir(path: Path) -> Path:
    """``path``, created if need be, refused unless only this user can write to it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = path.stat()
    except OSError as exc:
        raise CompileUnavailable(f"cache directory {path}: {exc}") from exc
    if status.st_uid != os.getuid() or status.st_mode & 0o022:
        raise CompileUnavailable(f"cache directory {path}: writable by another user")
    return path


def _load_cached(
    target: Path, key: str, n_features: int, probe: Reference
) -> CompiledPredictor | None:
    """The cached library, or None when there is none or it is unusable (removed, so the
    next build replaces it: cached files are only ever replaced whole, by rename, since
    rewriting a loaded library in place corrupts it in every process using it)."""
    if not target.is_file():
        return None
    try:
        predictor = CompiledPredictor(target, key, n_features)
        problem = probe.disagreement(predictor)
        if problem is not None:
            predictor.discard()
    except Exception as exc:  # whatever is wrong with the file, a new build replaces it
        problem = str(exc)
    if problem is None:
        return predictor
    log.warning("compiled_model_rebuilt", library=str(target), reason=problem)
    with contextlib.suppress(OSError):
        target.unlink()
    return None


def _compiler(configured: str | None) -> list[str]:
    command = shlex.split(configured or os.environ.get("CC") or "cc")
    if not command or shutil.which(command[0]) is None:
        raise CompileUnavailable(f"no C compiler: {command[0] if command else '$CC'!r} not found")
    return command


@contextlib.contextmanager
def _turn(lock_path: Path, timeout_s: float) -> Iterator[None]:
    """Exclusive use of one key's build among all processes (released by the kernel should
    the holder die)."""
    deadline = time.monotonic() + timeout_s
    with open(lock_path, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CompileUnavailable(
                        f"another process held {lock_path} for over {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(
    model_ubj: bytes,
    key: str,
    n_features: int,
    compiler: list[str],
    directory: Path,
    reference: Reference,
    timeout_s: float,
) -> Path:
    """Run the child build; the path of its checked library, or CompileUnavailable with
    the child's last words."""
    np.save(directory / "rows.npy", reference.rows)
    np.save(directory / "expected.npy", reference.expected)
    # -P: the child's path starts at the interpreter's, not at bidding/ beside this file.
    command = [sys.executable, "-P", __file__, str(directory), key, str(n_features)]
    command += [shlex.join(compiler), repr(reference.tolerance)]
    try:
        finished = subprocess.run(
            command, input=model_ubj, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise CompileUnavailable(f"compiling took over {timeout_s:.0f} s") from None
    if finished.returncode != 0:
        raise CompileUnavailable(f"build failed: {_last_words(finished)}")
    return directory / "model.so"


def _last_words(finished: "subprocess.CompletedProcess[bytes]") -> str:
    lines = finished.stderr.decode(errors="replace").strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [f"exit status {finished.returncode}"])[-1].strip()


def _subnormals_work() -> bool:
    """False in flush-to-zero mode, which a library built with -ffast-math sets for the
    whole process when loaded (and which changes every float result near zero)."""
    smallest = sys.float_info.min
    return smallest / 2.0 > 0.0


def _child(
    directory: Path, key: str, n_features: int, compiler: list[str], tolerance: float
) -> None:
    """The build itself: C from the booster on stdin, compiled into ``directory/model.so``,
    then loaded here and checked against the reference the parent left beside it."""
    os.nice(10)
    try:
        import tl2cgen
        import treelite
    except ImportError as exc:
        raise SystemExit(f"treelite/tl2cgen unavailable: {exc}") from exc
    model = treelite.frontend.from_xgboost_ubjson(sys.stdin.buffer.read())
    units = max(1, min(_MAX_UNITS, model.num_tree // _TREES_PER_UNIT))
    tl2cgen.generate_c_code(model, directory, params={"parallel_comp": units} if units > 1 else {})
    (directory / "rtb.c").write_text(_WRAPPER.format(key=key, n_features=n_features))
    sources = sorted(directory.glob("*.c"))

    def run(arguments: list[str]) -> None:
        finished = subprocess.run([*compiler, *arguments], capture_output=True, check=False)
        if finished.returncode != 0:
            raise SystemExit(f"{shlex.join(compiler)}: {_last_words(finished)}")

    def compile_one(source: Path) -> None:
        run(["-c", *_FLAGS, str(source), "-o", str(source.with_suffix(".o"))])

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(compile_one, sources))  # re-raises the first failure
    objects = [str(s.with_suffix(".o")) for s in sources]
    run(["-shared", *_FLAGS, "-o", str(directory / "model.so"), *objects, "-lm"])

    subnormals = _subnormals_work()
    try:
        predictor = CompiledPredictor(directory / "model.so", key, n_features)
    except CompileUnavailable as exc:
        raise SystemExit(str(exc)) from exc
    if subnormals and not _subnormals_work():
        raise SystemExit("loading it set flush-to-zero for the whole process (-ffast-math?)")
    reference = Reference(
        np.load(directory / "rows.npy"), np.load(directory / "expected.npy"), tolerance
    )
    problem = reference.disagreement(predictor)
    if problem is not None:
        raise SystemExit(f"compiled {key}: {problem}")


if __name__ == "__main__":
    _child(
        Path(sys.argv[1]),
        sys.argv[2],
        int(sys.argv[3]),
        shlex.split(sys.argv[4]),
        float(sys.argv[5]),
    )
