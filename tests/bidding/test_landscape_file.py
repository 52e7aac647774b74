"""Landscapes rebuilt from the log: the replay of the logged observations is the book the
router learnt online, the file keeps it exactly, a refresh takes the file's buckets and
keeps the rest, and a book is bounded whatever the traffic."""

from pathlib import Path

import numpy as np
import pytest

from bidding.landscape_file import (
    SHADING_EVENT,
    LandscapeFileError,
    Observation,
    books_from_events,
    format_observations,
    read_landscapes,
    write_landscapes,
)
from bidding.shading import LandscapeBook


def _observations(seed: int, n: int) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        bid = int(rng.integers(100_000, 5_000_000))
        competing = int(rng.lognormal(np.log(1_500_000), 0.6))
        won = bid > competing
        bucket = f"pub-{rng.integers(3)}|300x250|{'GB' if rng.random() < 0.5 else 'DE'}"
        out.append(Observation(bucket, bid, won, None if won else competing))
    return out


def _same(a: LandscapeBook, b: LandscapeBook) -> bool:
    mine, theirs = dict(a.items()), dict(b.items())
    return (
        mine.keys() == theirs.keys()
        and all(np.allclose(mine[k].weights, theirs[k].weights, rtol=0, atol=1e-12) for k in mine)
        and np.allclose(a.global_landscape.weights, b.global_landscape.weights, atol=1e-12)
    )


def test_replaying_the_logged_observations_rebuilds_the_online_book() -> None:
    observed = _observations(1, 600)
    online = LandscapeBook()
    for o in observed:
        online.observe(o.bucket, o.bid_micros, o.won, o.competing_micros)
    # Two processes' events, interleaved in the export, one auction's observations each.
    events = [
        {"kind": SHADING_EVENT, "ts_ms": str(1_000 + i), "bidder": "house",
         "observations": format_observations([o])}
        for i, o in enumerate(observed)
    ]  # fmt: skip
    events = events[1::2] + events[::2]  # out of order: the replay sorts by time
    events.append({"kind": "auction", "ts_ms": "5"})
    ((name, (book, count)),) = books_from_events(events).items()
    assert (name, count) == ("house", 600)
    assert _same(book, online)
    recent = books_from_events(events, since_s=1.300)["house"][1]
    assert recent == 300  # only the window's


def test_the_file_keeps_the_books_exactly_and_refuses_junk(tmp_path: Path) -> None:
    book = LandscapeBook()
    for o in _observations(2, 200):
        book.observe(o.bucket, o.bid_micros, o.won, o.competing_micros)
    path = tmp_path / "landscapes.npz"
    write_landscapes({"house": book}, path)
    assert _same(read_landscapes(path)["house"], book)
    good = path.read_bytes()
    for junk, message in [
        (b"{", "not a landscape file"),
        (good[: len(good) // 2], "not a landscape file"),  # half copied
    ]:
        path.write_bytes(junk)
        with pytest.raises(LandscapeFileError, match=message):
            read_landscapes(path)
    book.get("nan-bucket").weights[3] = np.nan
    write_landscapes({"house": book}, path)
    with pytest.raises(LandscapeFileError, match="router 'house' bucket 'nan-bucket': weights"):
        read_landscapes(path)
    arrays = dict(np.load(path))
    for name, value in [("r0_points", np.zeros(0)), ("r0_points", np.zeros(257)),
                        ("r0_decay", np.array(2.0))]:  # fmt: skip
        np.savez(path, **{**arrays, name: value})
        with pytest.raises(LandscapeFileError, match=r"router 'house': (points|decay)"):
            read_landscapes(path)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(LandscapeFileError, match="one array, not an archive"):
        read_landscapes(tmp_path / "one.npy")


def test_a_refresh_takes_the_files_buckets_and_keeps_the_others() -> None:
    local, fleet = LandscapeBook(), LandscapeBook()
    local.observe("only-here", 1_000_000, False, 2_000_000)
    local.observe("shared", 1_000_000, False, 3_000_000)
    for _ in range(50):
        fleet.observe("shared", 1_000_000, True, 400_000)
    merged = local.merged(fleet)
    shared = dict(fleet.items())["shared"].weights
    assert np.array_equal(dict(merged.items())["shared"].weights, shared)
    assert np.array_equal(
        dict(merged.items())["only-here"].weights, dict(local.items())["only-here"].weights
    )
    merged.observe("shared", 1_000_000, True, 400_000)  # copies: neither source changes
    assert np.array_equal(dict(fleet.items())["shared"].weights, shared)
    assert not np.array_equal(dict(merged.items())["shared"].weights, shared)


def test_a_book_is_bounded_and_drops_the_least_recently_used() -> None:
    book = LandscapeBook(max_buckets=100)
    for i in range(10_000):  # a client inventing publishers
        book.get(f"pub-{i}|300x250|GB")
        book.get("pub-0|300x250|GB")  # in use all along
    assert len(book) == 100
    assert "pub-0|300x250|GB" in dict(book.items())
    assert "pub-1|300x250|GB" not in dict(book.items())


def test_a_bad_observation_names_its_event() -> None:
    events = [{"kind": SHADING_EVENT, "ts_ms": "1", "bidder": "house", "observations": "b~x~1~"}]
    with pytest.raises(ValueError, match=r"event 0 \(shading\): observation 'b~x~1~'"):
        books_from_events(events)
