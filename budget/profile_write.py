"""One atomic change to a user's profile record, and the rules that keep the record small.

A profile is one hash per user (``KeySpace.profile``). Its fields are of two kinds, and the
store knows just enough of their names to keep the hash bounded:

* ``e:<day>:…`` — a count on one UTC day (``bidding.profiles`` names the rest); a field of a
  day older than ``keep_days`` is dropped;
* ``s:<segment>`` — a declared segment, its value the Unix second it expires at; dropped
  once that has passed.

Pruning runs on the first write of each day (the field ``p`` holds the last pruned day), so
a write costs O(changed fields) except once a day per user. A record already holding
``max_fields`` fields only changes the fields it has: a flood of new campaigns, categories
or segments for one user cannot grow it further. The key expires ``ttl_s`` after its last
write, so users who go quiet leave nothing behind.

``apply_write`` is that contract over a plain dict (the in-memory store); the Redis store
runs the same rules in one Lua script (``budget.scripts.PROFILE_WRITE``).
"""

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Final

PRUNED_FIELD: Final = "p"
"""The field holding the UTC day the record was last pruned on."""
EVENT_PREFIX: Final = "e:"
SEGMENT_PREFIX: Final = "s:"


@dataclass(frozen=True, slots=True)
class ProfileWrite:
    """Add ``increments`` (field, amount) and set ``sets`` (field, text) in one step;
    ``deletes`` are removed. ``day`` is today's UTC day number, ``now_s`` the Unix time
    segment expiries are compared with."""

    key: str
    day: int
    now_s: int
    keep_days: int
    max_fields: int
    ttl_s: int
    increments: tuple[tuple[str, int], ...] = ()
    sets: tuple[tuple[str, str], ...] = ()
    deletes: tuple[str, ...] = ()


def expired(field: str, value: str, oldest_day: int, now_s: int) -> bool:
    """Whether pruning drops ``field`` (a day before ``oldest_day``, a lapsed segment, or a
    field of neither kind, which no writer makes)."""
    if field == PRUNED_FIELD:
        return False
    if field.startswith(EVENT_PREFIX):
        day, _, _ = field[len(EVENT_PREFIX) :].partition(":")
        return not day.isdigit() or int(day) < oldest_day
    if field.startswith(SEGMENT_PREFIX):
        return not value.isdigit() or int(value) <= now_s
    return True


def apply_write(record: MutableMapping[str, str], write: ProfileWrite) -> None:
    """Apply ``write`` to ``record`` as the Redis script does."""
    if record.get(PRUNED_FIELD) != str(write.day):
        oldest = write.day - write.keep_days + 1
        for field in [f for f, v in record.items() if expired(f, v, oldest, write.now_s)]:
            del record[field]
        record[PRUNED_FIELD] = str(write.day)
    for field in write.deletes:
        record.pop(field, None)
    for field, amount in write.increments:
        if field in record:
            record[field] = str(int(record[field]) + amount)
        elif len(record) < write.max_fields:
            record[field] = str(amount)
    for field, text in write.sets:
        if field in record or len(record) < write.max_fields:
            record[field] = text
