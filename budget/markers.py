"""Markers of the in-memory store, packed: keys set once with a TTL and a small integer.

Every won impression leaves three markers that must outlive its notice token, a day: its
charge and the first win and billing notice. As dict entries keyed by strings they cost
some 300 bytes each (key, entry, expiry entry, heap entry), so a demo process grew by a
megabyte per thousand auctions until the day was over. Here a marker is a 64-bit
fingerprint of its key, its expiry in sixteenths of a second and, if the table carries one,
a 32-bit integer, in parallel arrays: 12 or 16 bytes a slot of an open-addressing table.

Lookups probe linearly from the key's home slot up to an empty one. The home is the
fingerprint scaled to the number of home slots (multiply and shift), so homes keep the
fingerprints' order whatever the table's size. The table does not wrap around: a tail of
spare slots follows the last home slot, and its final slot is always empty, so a probe
needs no bounds check and a rebuild can place all live entries in one vectorised pass
(sorted by home slot, each at the first free slot at or after it). The old table is already
in nearly that order, so the sort is close to a single pass (a few ms for a million
markers, where a shuffled table took some 140 ms here).
An expired marker reads as absent at once and keeps its slot, which an insert passing it
may reuse, until the next rebuild: when the slots in use pass 85 % of the home slots, and
on ``sweep``; it keeps the live markers only, at 70 %.

Two live keys with one fingerprint would read as one. The fingerprint is Python's string
hash (SipHash, keyed per process, so nobody outside can aim at it); with n markers alive
the chance that any two collide is about n² / 2⁶⁵ (3 · 10⁻⁸ at a million). For a notice
marker a collision means "seen before": the notice is not charged, never charged twice.

A rebuild's temporaries are several times the table. glibc serves blocks that large from
its heap once it has freed one as large, and keeps the pages when they are freed again, so
after a rebuild of a large table the free pages are handed back (``malloc_trim``); without
it the process grew by three times what its markers take.
"""

import ctypes
import math
from array import array
from collections.abc import Callable
from typing import Final

import numpy as np

__all__ = ["Markers"]

assert array("I").itemsize == 4, "expiries are read back as numpy uint32"

TICKS_PER_S: Final = 16
_LAST_TICK: Final = 2**32 - 1
_UINT64: Final = 2**64 - 1
_MIN_HOMES: Final = 64
_MAX_LOAD: Final = 0.85
_REBUILT_LOAD: Final = 0.7
_BASE_MARGIN_S: Final = 3600.0
"""Times this far before the table was made still count (a test clock may start anywhere)."""
MAX_VALUE: Final = 2**32 - 1
_TRIM_FROM_SLOTS: Final = 1 << 16
"""Rebuilds of tables at least this large give the freed heap back to the system."""


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    return trim


_TRIM: Final = _malloc_trim()


def fingerprint(key: str) -> int:
    """The 64-bit fingerprint of ``key``; never 0, which marks an empty slot."""
    return hash(key) or 1


class Markers:
    """Keys with an expiry and, if ``payload``, an integer in [0, ``MAX_VALUE``] each."""

    fingerprint = staticmethod(fingerprint)

    def __init__(self, now: float, *, payload: bool = False) -> None:
        self._base = now - _BASE_MARGIN_S
        self._payload = payload
        self._homes = _MIN_HOMES
        self._fingerprints = array("q")
        self._expiries = array("I")
        self._data = array("I")
        self._used = 0
        self.clear()

    def clear(self) -> None:
        """Forget every marker (and give the memory back)."""
        size = _MIN_HOMES + _tail(_MIN_HOMES)
        self._homes = _MIN_HOMES
        self._fingerprints = array("q", bytes(8 * size))
        self._expiries = array("I", bytes(4 * size))
        self._data = array("I", bytes(4 * size) if self._payload else b"")
        self._used = 0

    @property
    def used(self) -> int:
        """Slots taken: live markers, and expired ones not yet rebuilt away."""
        return self._used

    @property
    def slots(self) -> int:
        return len(self._fingerprints)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what the table costs beyond a few objects)."""
        tables = (self._fingerprints, self._expiries, self._data)
        return sum(len(a) * a.itemsize for a in tables)

    def _ticks(self, now: float) -> float:
        return (now - self._base) * TICKS_PER_S

    def _expiry(self, at: float) -> int:
        """``at`` in ticks, rounded up: a marker may live a sixteenth of a second longer
        than asked, never shorter."""
        return min(_LAST_TICK, max(1, math.ceil((at - self._base) * TICKS_PER_S)))

    def _home(self, fp: int) -> int:
        return ((fp & _UINT64) * self._homes) >> 64

    def get(self, key: str, now: float) -> int | None:
        """The marker's integer (1 in a table without them); None if absent or expired."""
        found = self._find(self.fingerprint(key))
        if found < 0 or self._expiries[found] <= self._ticks(now):
            return None
        return self._data[found] if self._payload else 1

    def _find(self, fp: int) -> int:
        fingerprints = self._fingerprints
        slot = ((fp & _UINT64) * self._homes) >> 64  # _home, inlined
        while True:
            here = fingerprints[slot]
            if here == fp:
                return slot
            if here == 0:
                return -1
            slot += 1

    def add(self, key: str, at: float, now: float, value: int = 1) -> bool:
        """Set ``key`` until ``at`` if it is absent or expired (SET NX); False if it is live."""
        fp = self.fingerprint(key)
        ticks = self._ticks(now)
        fingerprints, expiries = self._fingerprints, self._expiries
        slot = ((fp & _UINT64) * self._homes) >> 64  # _home, inlined
        reusable = -1
        while True:
            here = fingerprints[slot]
            if here == 0:
                break
            if here == fp:
                if expiries[slot] > ticks:
                    return False
                reusable = slot
                break
            if reusable < 0 and expiries[slot] <= ticks:
                reusable = slot  # expired: ours if the key turns out to be absent
            slot += 1
        if reusable < 0:
            if slot == len(fingerprints) - 1 or self._used + 1 > _MAX_LOAD * self._homes:
                self.rebuild(now, room=1)
                return self.add(key, at, now, value)
            reusable = slot
            self._used += 1
        fingerprints[reusable] = fp
        expiries[reusable] = self._expiry(at)
        if self._payload:
            self._data[reusable] = value
        return True

    def rebuild(self, now: float, room: int = 0) -> None:
        """Keep only the live markers, in a table sized for them (and ``room`` more) at
        70 % of its home slots."""
        fingerprints = np.frombuffer(self._fingerprints, dtype=np.int64)
        expiries = np.frombuffer(self._expiries, dtype=np.uint32)
        live = (fingerprints != 0) & (expiries > self._ticks(now))
        kept = fingerprints[live]
        homes_count = max(_MIN_HOMES, math.ceil((len(kept) + room) / _REBUILT_LOAD))
        homes = _homes_of(kept, homes_count)
        order = np.argsort(homes, kind="stable")  # nearly sorted already: timsort is quick
        rank = np.arange(len(kept), dtype=np.int64)
        slots = np.maximum.accumulate(homes[order] - rank) + rank if len(kept) else rank
        size = homes_count + _tail(homes_count)
        if len(kept):  # a run past the last home slot: a whole tail after it still
            size = max(size, int(slots[-1]) + 1 + _tail(homes_count))
        new_fingerprints = np.zeros(size, dtype=np.int64)
        new_fingerprints[slots] = kept[order]
        new_expiries = np.zeros(size, dtype=np.uint32)
        new_expiries[slots] = expiries[live][order]
        if self._payload:
            new_data = np.zeros(size, dtype=np.uint32)
            new_data[slots] = np.frombuffer(self._data, dtype=np.uint32)[live][order]
            self._data = array("I", new_data.tobytes())
            del new_data
        self._fingerprints = array("q", new_fingerprints.tobytes())
        self._expiries = array("I", new_expiries.tobytes())
        self._homes = homes_count
        self._used = len(kept)
        del fingerprints, expiries, live, kept, homes, order, rank, slots
        del new_fingerprints, new_expiries
        if _TRIM is not None and size >= _TRIM_FROM_SLOTS:
            _TRIM(0)


def _homes_of(fingerprints: np.ndarray, homes: int) -> np.ndarray:
    """``Markers._home`` of each fingerprint, exactly: the high 64 bits of the 128-bit
    product, from two 32-bit halves (``homes`` < 2³²)."""
    unsigned = fingerprints.view(np.uint64)
    count = np.uint64(homes)
    high, low = unsigned >> np.uint64(32), unsigned & np.uint64(0xFFFFFFFF)
    return ((high * count + ((low * count) >> np.uint64(32))) >> np.uint64(32)).astype(np.int64)


def _tail(homes: int) -> int:
    """Spare slots after the last home slot (runs past it continue there)."""
    return 64 + homes // 128
