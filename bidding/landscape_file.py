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

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

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
        ts = int(event.get("ts_ms") or 0) / 1000
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


def _landscape(data: Mapping[str, Any], points: np.ndarray, decay: float) -> Landscape:
    weights = np.asarray(data, dtype=np.float64)
    if weights.shape != points.shape or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("weights must be as many as the points, finite and ≥ 0")
    return Landscape(points, weights, decay)


def write_landscapes(books: Mapping[str, LandscapeBook], path: Path) -> None:
    """The books as one JSON file, replaced atomically (a reader never sees half of it)."""
    routers: dict[str, Any] = {}
    for name, book in books.items():
        routers[name] = {
            "points": book.global_landscape.points,
            "decay": book.global_landscape.decay,
            "global": book.global_landscape.weights,
            "buckets": {key: landscape.weights for key, landscape in book.items()},
        }
    data = orjson.dumps(
        {"version": _VERSION, "routers": routers}, option=orjson.OPT_SERIALIZE_NUMPY
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def read_landscapes(path: Path) -> dict[str, LandscapeBook]:
    """The books of a landscape file; LandscapeFileError naming what is wrong."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise LandscapeFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise LandscapeFileError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        raise LandscapeFileError(f"{path}: not a version {_VERSION} landscape file")
    books = {}
    for name, spec in (data.get("routers") or {}).items():
        try:
            points = np.asarray(spec["points"], dtype=np.float64)
            decay = float(spec["decay"])
            book = LandscapeBook(_landscape(spec["global"], points, decay))
            for key, weights in spec["buckets"].items():
                book.put(str(key), _landscape(weights, points, decay))
        except (KeyError, TypeError, ValueError) as exc:
            raise LandscapeFileError(f"{path}: router {name!r}: {exc}") from exc
        books[str(name)] = book
    return books
