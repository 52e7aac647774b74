"""``rtb export``: the event stream to a CSV file, through a consumer group.

A consumer group remembers what it has read, so repeated exports each write only the new
events (and several exporters in one group share the work). Events are flat string maps;
the CSV's columns are the union of their fields, ``kind`` and ``ts_ms`` first.

A sharded stream (``RTB_EVENTS_SHARDS``, a Redis Cluster) is read shard by shard, the
group on each, and written as one file in the order of the events' own time (``ts_ms``,
stamped by the process that emitted them; events of the same millisecond keep the order
they were read in). With ``--max`` the file holds at most that many events, whichever
shards they came from, and the next export continues where this one stopped on each.
"""

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from budget.keys import KeySpace
from budget.stream import Event, EventStream, RedisEventStream
from exchange.settings import Settings

BATCH = 1_000


def open_event_stream(settings: Settings) -> RedisEventStream:
    """The Redis event stream the settings name: its shards, on one node or a cluster."""
    return RedisEventStream.from_url(
        settings.redis_url,
        KeySpace(settings.key_prefix).events(settings.event_shards()),
        settings.events_max_len,
        cluster=settings.redis_cluster,
    )


async def export_events(
    stream: EventStream,
    out: Path,
    *,
    group: str = "export",
    consumer: str = "rtb-export",
    max_events: int | None = None,
) -> int:
    """Read the events of ``group`` not yet exported (up to ``max_events``) into ``out``;
    how many were written.

    At least once: the events are acknowledged only after the file is on disk, so an export
    that dies first leaves them pending for its consumer, and the next export with the same
    consumer name writes them again (before anything new). ``rtb ledger restore`` reads
    these files, and restoring a charge twice changes nothing."""
    events: list[Event] = []
    ids: list[str] = []
    for read in (stream.read_pending, stream.read):
        while max_events is None or len(events) < max_events:
            count = BATCH if max_events is None else min(BATCH, max_events - len(events))
            batch = await read(group, consumer, count)
            if not batch:
                break
            events.extend(fields for _, fields in batch)
            ids.extend(entry_id for entry_id, _ in batch)
    events.sort(key=_event_time)  # stable: one shard's events stay in stream order
    _write_csv(out, events)
    for start in range(0, len(ids), BATCH):
        await stream.ack(group, ids[start : start + BATCH])
    return len(events)


def _event_time(event: Event) -> int:
    """Milliseconds of the event's ``ts_ms`` (0 when missing or malformed: first)."""
    try:
        return int(event.get("ts_ms", ""))
    except ValueError:
        return 0


def _write_csv(out: Path, events: Sequence[Event]) -> None:
    """Written beside ``out``, synced, then renamed over it: the file is whole or absent."""
    columns = ["kind", "ts_ms"]
    for event in events:
        columns.extend(name for name in event if name not in columns)
    partial = out.with_name(f".{out.name}.partial")
    with partial.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(events)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(out)
