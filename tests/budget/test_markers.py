"""The packed marker table: SET NX with a TTL, as a dict of strings would do it, in a few
bytes a marker; expired markers read as absent at once and leave at the next rebuild."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from budget.markers import MAX_VALUE, TICKS_PER_S, Markers, _homes_of

TICK_S = 1 / TICKS_PER_S


def test_a_marker_is_set_once_until_it_expires() -> None:
    table = Markers(now=0.0)
    assert table.add("k", at=10.0, now=0.0)
    assert not table.add("k", at=99.0, now=5.0)  # live: NX refuses, the expiry stays
    assert table.get("k", now=10.0 - TICK_S) == 1
    assert table.get("k", now=10.0) is None  # expired at once, still in its slot
    assert table.used == 1
    assert table.add("k", at=20.0, now=10.0)  # set again, in the same slot
    assert table.used == 1
    assert table.get("other", now=10.0) is None


def test_a_marker_never_lives_less_than_asked() -> None:
    table = Markers(now=0.0)
    table.add("k", at=10.01, now=0.0)  # rounded up to the next sixteenth of a second
    assert table.get("k", now=10.01) == 1
    assert table.get("k", now=10.01 + TICK_S) is None


def test_markers_carry_their_integer() -> None:
    table = Markers(now=0.0, payload=True)
    assert table.add("charged:a", at=60.0, now=0.0, value=1_910 << 2 | 1)
    assert table.add("charged:b", at=60.0, now=0.0, value=0)
    assert table.add("charged:c", at=60.0, now=0.0, value=MAX_VALUE)
    assert table.get("charged:a", now=1.0) == 1_910 << 2 | 1
    assert table.get("charged:c", now=1.0) == MAX_VALUE
    assert table.get("charged:b", now=1.0) == 0  # zero is a value, not absence


def test_a_growing_table_keeps_every_live_marker_and_drops_the_expired() -> None:
    table = Markers(now=0.0, payload=True)
    for i in range(20_000):  # many rebuilds on the way
        assert table.add(f"m{i}", at=100.0 if i % 2 else 1.0, now=0.0, value=i)
    table.rebuild(now=2.0)
    assert table.used == 10_000
    assert all(table.get(f"m{i}", now=2.0) == i for i in range(1, 20_000, 2))
    assert all(table.get(f"m{i}", now=2.0) is None for i in range(0, 20_000, 2))


def test_a_marker_costs_tens_of_bytes() -> None:
    flags, charges = Markers(now=0.0), Markers(now=0.0, payload=True)
    for i in range(100_000):
        flags.add(f"rtb:notice:{{c:acme}}:win:{i:032x}:1:1-acme", at=90_000.0, now=0.0)
        charges.add(f"rtb:charged:{{c:acme}}:{i:032x}:1:1-acme", at=90_000.0, now=0.0, value=i)
    assert flags.nbytes / 100_000 <= 24  # 12 bytes a slot
    assert charges.nbytes / 100_000 <= 32  # 16 bytes a slot


def test_markers_written_and_expiring_at_the_same_pace_stay_bounded() -> None:
    table = Markers(now=0.0)
    most = 0
    for second in range(2_000):  # 100 a second, each kept 10 s: about 1,000 alive
        for n in range(100):
            assert table.add(f"{second}-{n}", at=second + 10.0, now=float(second))
        most = max(most, table.used)
    assert most <= 1_100 * 85 // 70 + 64  # alive, and what waits for the next rebuild
    table.rebuild(now=2_010.0)
    assert table.used == 0


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "get", "tick", "rebuild"]),
        st.integers(min_value=0, max_value=40),  # key
        st.integers(min_value=1, max_value=30),  # ttl in ticks, or how far the clock moves
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_the_table_answers_as_a_dict_with_expiries_would(
    operations: list[tuple[str, int, int]],
) -> None:
    table = Markers(now=0.0, payload=True)
    model: dict[str, tuple[float, int]] = {}
    now = 0.0
    for step, (operation, key_number, amount) in enumerate(operations):
        key = f"key-{key_number}"
        alive = key in model and model[key][0] > now
        if operation == "add":
            at = now + amount * TICK_S
            assert table.add(key, at, now, value=step) is not alive
            if not alive:
                model[key] = (at, step)
        elif operation == "get":
            assert table.get(key, now) == (model[key][1] if alive else None)
        elif operation == "tick":
            now += amount * TICK_S
        else:
            table.rebuild(now)
            assert table.used == sum(1 for at, _ in model.values() if at > now)


class Crowded(Markers):
    """Fingerprints just below 2⁶⁴ (as unsigned): at any size, every key's home is the
    last home slot, so the whole run lies in the tail past it."""

    @staticmethod
    def fingerprint(key: str) -> int:
        return -(int(key) + 1)


def test_a_run_past_the_last_home_slot_continues_in_a_tail_that_grows() -> None:
    table = Crowded(now=0.0)
    for i in range(1_000):
        assert table.add(str(i), at=10.0, now=0.0)
    assert all(table.get(str(i), now=1.0) == 1 for i in range(1_000))
    table.rebuild(now=1.0)
    assert table.slots > 1_000 / 0.7 + 1_000  # the tail was widened for the run
    assert all(table.get(str(i), now=1.0) == 1 for i in range(1_000))
    assert not table.add("7", at=10.0, now=1.0)


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=50))
def test_the_vectorised_homes_are_the_probes_homes(fingerprints: list[int]) -> None:
    table = Markers(now=0.0)
    for homes in (64, 167, 1_000_003, 2**32 - 1):
        table._homes = homes
        expected = [table._home(fp) for fp in fingerprints]
        assert _homes_of(np.array(fingerprints, dtype=np.int64), homes).tolist() == expected
