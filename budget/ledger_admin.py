"""What an operator does to the ledger: create it once, and restore it after a loss.

``init`` makes the record and every campaign's marker of a new deployment; it refuses a
store that already holds the exchange's data without a record (that store either lost
its record, and needs ``restore``, or predates ledgers, and needs ``adopt_existing``).

``restore`` rebuilds what a store lost from the exchange's own event log: every charged
notice is charged again exactly once (the charge marker is set if absent and only then is
spend added, so a charge the store still has is not counted twice, and running it twice
changes nothing), every notice is marked seen again (replays answer ``duplicate``), then
every campaign's marker gets a new epoch and, last, the record. Processes adopt the new
ledger only once record and markers agree, so they resume after the whole restore. With
``exhaust_today`` each campaign's spend today is raised to its budget: nothing more is
spent today, whatever the log missed.

The restore is as complete as the log it is given: charges after the last export are not
in it. Hence the README's rule — Redis persists every write (AOF), and the export runs
continuously; restore is for the day persistence failed.

Each function takes a client of one node or of a Redis Cluster: every script and command
here touches one slot (a campaign's keys, or the record), reads of many markers are split
per slot, and the check for existing spend scans every primary.
"""

import csv
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from redis.typing import EncodableT, FieldT

from budget import scripts
from budget.accounts import BudgetedCampaign
from budget.days import SPEND_KEY_TTL_S, campaign_day
from budget.keys import KeySpace
from budget.ledger_watch import new_record
from budget.redis_store import RedisClient, as_text, read_values

MARKER_MARGIN_S: Final = 3600
"""As the notice service keeps them: markers outlive the token by an hour."""
_NOTICE_KINDS: Final = {"notice_win": "win", "notice_billing": "billing"}


class LedgerAdminError(RuntimeError):
    """An operation the store's state does not allow; the message says what to do."""


LedgerCampaign = BudgetedCampaign
"""What the ledger needs of a campaign."""


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    """What a restore did."""

    epoch: str
    generation: int
    events: int
    charges_restored: int
    micros_restored: int
    charges_present: int
    """Charges whose marker the store still had: not counted again."""
    notices_marked: int
    unusable: int
    """Notice events without the fields a restore needs (older exports)."""
    exhausted: int
    """Campaigns whose spend today was raised to their budget."""


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """The record, and each campaign's marker: ``ok`` or what it is instead."""

    record: Mapping[str, str]
    campaigns: Mapping[str, str]
    lost: Mapping[str, str]
    """What a process found lost (empty when nothing was)."""

    @property
    def healthy(self) -> bool:
        """A record, and every campaign's marker agreeing with it."""
        healthy = "epoch" in self.record and not self.lost
        return healthy and all(v == "ok" for v in self.campaigns.values())


async def ledger_status(
    client: RedisClient, keys: KeySpace, campaigns: Sequence[LedgerCampaign]
) -> LedgerReport:
    """The record and whether each campaign's marker agrees with it."""
    raw = await client.hgetall(keys.ledger_record)
    record = {
        as_text(k): as_text(v) for k, v in raw.items() if not as_text(k).startswith("campaign:")
    }
    epoch = record.get("epoch")
    markers = await read_values(client, [keys.ledger_marker(c.id) for c in campaigns])
    lost = {as_text(k): as_text(v) for k, v in (await client.hgetall(keys.ledger_lost)).items()}
    return LedgerReport(
        record,
        {
            c.id: "ok" if marker is not None and as_text(marker) == epoch else _marker_state(marker)
            for c, marker in zip(campaigns, markers, strict=True)
        },
        lost,
    )


async def init_ledger(
    client: RedisClient,
    keys: KeySpace,
    campaigns: Sequence[LedgerCampaign],
    *,
    adopt_existing: bool = False,
) -> dict[str, str]:
    """Create the ledger of a new deployment (or of one that predates ledgers)."""
    if await client.hexists(keys.ledger_record, "epoch"):
        raise LedgerAdminError(
            "the store already has a ledger record; `rtb ledger status` shows it"
        )
    lost = await client.hgetall(keys.ledger_lost)
    if lost:
        found = {as_text(k): as_text(v) for k, v in lost.items()}
        raise LedgerAdminError(
            f"an exchange process found the ledger of epoch {found.get('epoch')} lost "
            f"({found.get('reason')}): run `rtb ledger restore`, not init"
        )
    if not adopt_existing and await _holds_spend(client, keys):
        raise LedgerAdminError(
            f"the store holds spend under {keys.prefix!r} but no ledger record: if it lost its "
            "record, run `rtb ledger restore`; if it predates ledgers, `rtb ledger init "
            "--adopt-existing`"
        )
    record = new_record("init", 1)
    await _put_ledger(client, keys, campaigns, record)
    return record


async def restore_ledger(
    client: RedisClient,
    keys: KeySpace,
    campaigns: Sequence[LedgerCampaign],
    events: Iterable[Mapping[str, str]],
    *,
    exhaust_today: bool = False,
    now_s: float | None = None,
) -> RestoreSummary:
    """Rebuild charges and notice markers from ``events``; then a new epoch."""
    now = time.time() if now_s is None else now_s
    by_id = {c.id: c for c in campaigns}
    charge = client.register_script(scripts.RESTORE_CHARGE)
    counts = dict.fromkeys(("events", "restored", "micros", "present", "marked", "unusable"), 0)
    for event in events:
        counts["events"] += 1
        kind = _NOTICE_KINDS.get(event.get("kind", ""))
        if kind is None:
            continue
        fields = _restorable(event)
        if fields is None:
            counts["unusable"] += 1
            continue
        impression, issued_at_s, expires_at_s, charged = fields
        ttl_s = max(1, int(expires_at_s - now)) + MARKER_MARGIN_S
        campaign = by_id.get(event.get("campaign_id", ""))
        tag = campaign.id if campaign is not None else None
        if await client.set(keys.notice(kind, impression, tag), "1", nx=True, ex=ttl_s):
            counts["marked"] += 1
        settlement = event.get("settlement", "")
        if campaign is None or (not charged and settlement != "refused"):
            continue
        day = campaign_day(issued_at_s, campaign.time_zone)
        marker_value = f"{3 if settlement == 'refused' else 1}:{charged}"
        applied = await charge(
            keys=[keys.spend(campaign.id, day), keys.charge(campaign.id, impression)],
            args=[charged, ttl_s, marker_value, SPEND_KEY_TTL_S],
        )
        if applied:
            counts["restored"] += 1
            counts["micros"] += charged
        else:
            counts["present"] += 1
    exhausted = 0
    if exhaust_today:
        for campaign in campaigns:
            key = keys.spend(campaign.id, campaign_day(now, campaign.time_zone))
            spent = int(await client.get(key) or 0)
            if spent < campaign.daily_budget_micros:
                await client.set(key, campaign.daily_budget_micros, ex=SPEND_KEY_TTL_S)
                exhausted += 1
    old = await client.hget(keys.ledger_record, "generation")
    record = new_record("restore", (int(old) if old is not None else 0) + 1, now)
    await _put_ledger(client, keys, campaigns, record)
    return RestoreSummary(
        epoch=record["epoch"],
        generation=int(record["generation"]),
        events=counts["events"],
        charges_restored=counts["restored"],
        micros_restored=counts["micros"],
        charges_present=counts["present"],
        notices_marked=counts["marked"],
        unusable=counts["unusable"],
        exhausted=exhausted,
    )


def read_event_files(paths: Sequence[Path]) -> Iterator[dict[str, str]]:
    """The events of ``rtb export`` CSV files, in file order."""
    for path in paths:
        with path.open(newline="") as file:
            yield from csv.DictReader(file)


async def _put_ledger(
    client: RedisClient,
    keys: KeySpace,
    campaigns: Sequence[LedgerCampaign],
    record: Mapping[str, str],
) -> None:
    """Markers first, the record last: a process adopts the ledger once both agree."""
    for campaign in campaigns:
        await client.set(keys.ledger_marker(campaign.id), record["epoch"])
    fields: dict[FieldT, EncodableT] = {f"campaign:{c.id}": "1" for c in campaigns}
    fields.update(record)
    await client.hset(keys.ledger_record, mapping=fields)
    await client.delete(keys.ledger_lost)


async def _holds_spend(client: RedisClient, keys: KeySpace) -> bool:
    """Whether any spend or charge marker exists (a cluster client scans every primary)."""
    for pattern in (keys.spend("*", "*"), keys.charge("*", "*")):
        async for _key in client.scan_iter(match=pattern, count=1000):
            return True
    return False


def _restorable(event: Mapping[str, str]) -> tuple[str, int, int, int] | None:
    try:
        impression = f"{event['auction_id']}:{event['imp_id']}:{event['bid_id']}"
        return (
            impression,
            int(event["issued_at_s"]),
            int(event["expires_at_s"]),
            int(event.get("charged_micros") or 0),
        )
    except (KeyError, ValueError):
        return None


def _marker_state(marker: bytes | str | None) -> str:
    return "missing" if marker is None else f"epoch {as_text(marker)}"
