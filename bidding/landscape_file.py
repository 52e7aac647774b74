"""First-price bid landscapes rebuilt from the event log, and the file that carries them.

Each process learns its routers' landscapes online, from its own auctions only, and forgets
them when it stops. The exchange also logs every observation it feeds a router (a
``shading`` event per first-price auction with in-process bids: the bucket, the bid, won or
lost, the competing price when known). ``rtb landscapes`` replays the last hours of those
events, from every process, in time order, into one book per router — the same updates the
routers make online — and writes them to a file; the exchange swaps a changed file in
(``exchange.landscape_reload``), so every process shades on the fleet's market, and a
restarted one starts from it instead of the prior.
"""

import io
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from bidding.event_log import event_seconds
from bidding.shading import Landscape, LandscapeBook

__all__ = [
    "SHADING_EVENT",
    "LandscapeFileError",
    "Observation",
    "books_from_events",
    "format_observations",
    "read_landscapes",
    "write_landscapes",
]

SHADING_EVENT: Final = "shading"
_VERSION: Final = 1


class LandscapeFileError(ValueError):
    """A landscape file that cannot be used; names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one of a router's bids met in a first-price auction."""

    bucket: str
    bid_micros: int
    won: bool
    competing_micros: int | None


def format_observations(observations: Iterable[Observation]) -> str:
    """The ``shading`` event's ``observations`` field: ``bucket~bid~won~competing;…``
    (``~`` and ``;`` never occur in a bucket: its parts are ids the exchange validated)."""
    return ";".join(
        f"{o.bucket.replace('~', '_').replace(';', '_')}~{o.bid_micros}~{int(o.won)}~"
        f"{'' if o.competing_micros is None else o.competing_micros}"
        for o in observations
    )


def _parse(text: str, index: int) -> list[Observation]:
    out = []
    for item in text.split(";"):
        parts = item.split("~")
        try:
            bucket, bid, won, competing = parts
            out.append(
                Observation(bucket, int(bid), won == "1", int(competing) if competing else None)
            )
        except ValueError as exc:
            raise ValueError(f"event {index} (shading): observation {item!r}") from exc
    return out


def books_from_events(
    events: Iterable[Mapping[str, str]],
    since_s: float | None = None,
    until_s: float | None = None,
) -> dict[str, tuple[LandscapeBook, int]]:
    """Each router's book from the ``shading`` events written in [``since_s``, ``until_s``]
    (None: unbounded), in time order, and how many observations it took."""
    found: list[tuple[float, int, str, str]] = []
    for index, event in enumerate(events):
        if event.get("kind") != SHADING_EVENT:
            continue
        ts = event_seconds(event, index)
        if (since_s is None or ts >= since_s) and (until_s is None or ts <= until_s):
            found.append((ts, index, event.get("bidder", ""), event.get("observations", "")))
    found.sort()
    books: dict[str, tuple[LandscapeBook, int]] = {}
    for _, index, bidder, text in found:
        book, count = books.get(bidder) or (LandscapeBook(), 0)
        for o in _parse(text, index) if text else ():
            book.observe(o.bucket, o.bid_micros, o.won, o.competing_micros)
            count += 1
        books[bidder] = (book, count)
    return books


MAX_FILE_BYTES: Final = 256 * 1024 * 1024
"""A landscape file larger than this is refused unread (a router's book at its bound is
about 41 MB)."""


def _weights(array: np.ndarray, points: np.ndarray, where: str) -> np.ndarray:
    if array.shape[-1:] != points.shape or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{where}: weights must be as many as the points, finite and ≥ 0")
    return array.astype(np.float64, copy=False)


def write_landscapes(books: Mapping[str, LandscapeBook], path: Path) -> None:
    """The books as one ``.npz`` file (numpy arrays, no pickles), replaced atomically: a
    reader never sees half of it."""
    arrays: dict[str, np.ndarray] = {
        "version": np.array(_VERSION),
        "routers": np.array(list(books), dtype=np.str_),
    }
    for i, book in enumerate(books.values()):
        keys, landscapes = zip(*book.items(), strict=True) if len(book) else ((), ())
        points = book.global_landscape.points
        arrays[f"r{i}_points"] = points
        arrays[f"r{i}_decay"] = np.array(book.global_landscape.decay)
        arrays[f"r{i}_global"] = book.global_landscape.weights
        arrays[f"r{i}_keys"] = np.array(keys, dtype=np.str_)
        arrays[f"r{i}_weights"] = (
            np.stack([landscape.weights for landscape in landscapes])
            if landscapes
            else np.zeros((0, len(points)))
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
    os.replace(temporary, path)


def read_landscapes(path: Path) -> dict[str, LandscapeBook]:
    """The books of a landscape file; LandscapeFileError naming what is wrong."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LandscapeFileError(f"{path}: {size:,} bytes, more than {MAX_FILE_BYTES:,}")
        data = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
    except OSError as exc:
        raise LandscapeFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:  # not an .npz, or pickles in it
        raise LandscapeFileError(f"{path}: not a landscape file: {exc}") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise LandscapeFileError(f"{path}: not a landscape file (one array, not an archive)")
    with data:
        try:
            if int(data["version"]) != _VERSION:
                raise ValueError(f"not a version {_VERSION} landscape file")
            return {
                str(name): _book(data, i, str(name))
                for i, name in enumerate(data["routers"].tolist())
            }
        except (KeyError, TypeError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise LandscapeFileError(f"{path}: {exc}") from exc


def _book(data: Any, i: int, name: str) -> LandscapeBook:
    points = np.asarray(data[f"r{i}_points"], dtype=np.float64)
    decay = float(data[f"r{i}_decay"])
    where = f"router {name!r}"
    if not (
        points.ndim == 1
        and len(points) >= 2
        and points[0] == 0.0
        and np.isfinite(points).all()
        and (np.diff(points) > 0).all()
    ):
        raise ValueError(f"{where}: points must rise from 0, finite")
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"{where}: decay must be in (0, 1]")
    book = LandscapeBook(Landscape(points, _weights(data[f"r{i}_global"], points, where), decay))
    keys, weights = data[f"r{i}_keys"].tolist(), data[f"r{i}_weights"]
    if weights.ndim != 2 or len(keys) != len(weights):
        raise ValueError(f"{where}: one row of weights per bucket")
    for key, row in zip(keys, weights, strict=True):
        book.put(
            str(key), Landscape(points, _weights(row, points, f"{where} bucket {key!r}"), decay)
        )
    return book
