"""``rtb export``: the event stream to a CSV file, through a consumer group.

A consumer group remembers what it has read, so repeated exports each write only the new
events (and several exporters in one group share the work). Events are flat string maps;
the CSV's columns are the union of their fields, ``kind`` and ``ts_ms`` first.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

from budget.stream import Event, EventStream

BATCH = 1_000


async def export_events(
    stream: EventStream,
    out: Path,
    *,
    group: str = "export",
    consumer: str = "rtb-export",
    max_events: int | None = None,
) -> int:
    """Read new events of ``group`` (up to ``max_events``) into ``out``; how many were written."""
    events: list[Event] = []
    while max_events is None or len(events) < max_events:
        count = BATCH if max_events is None else min(BATCH, max_events - len(events))
        batch = await stream.read(group, consumer, count)
        if not batch:
            break
        events.extend(fields for _, fields in batch)
        await stream.ack(group, [entry_id for entry_id, _ in batch])
    _write_csv(out, events)
    return len(events)


def _write_csv(out: Path, events: Sequence[Event]) -> None:
    columns = ["kind", "ts_ms"]
    for event in events:
        columns.extend(name for name in event if name not in columns)
    with out.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(events)
