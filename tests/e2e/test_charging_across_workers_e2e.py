"""The auditor's race, against ``rtb serve --workers 2`` on real Redis: every impression's
win notice fired three times at once and its billing notice beside them, spread over both
workers. Each impression is charged once, and the exported event log sums to exactly what
Redis charged."""

import asyncio
import csv
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from bench.notice_load import REQUEST, Served, serve_workers

IMPRESSIONS = 120
COST_MICROS = 1_250  # the demo's Pixel Games wins the spec's first-price example at 1.25 CPM


async def win_and_race(served: Served) -> list[int]:
    body = REQUEST.read_bytes()
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=served.base_url, limits=limits, timeout=10) as client:

        async def won() -> dict[str, str]:
            answer = await client.post(
                "/openrtb2/auction", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 200, answer.text
            bid: dict[str, str] = answer.json()["seatbid"][0]["bid"][0]
            return bid

        bids = [await won() for _ in range(IMPRESSIONS)]

        async def fire(url: str) -> int:
            parts = urlsplit(url)
            return (await client.get(f"{parts.path}?{parts.query}")).status_code

        urls = [u for bid in bids for u in (bid["nurl"], bid["nurl"], bid["nurl"], bid["burl"])]
        return list(await asyncio.gather(*(fire(url) for url in urls)))


def exported(served: Served, out: Path, expected: int) -> list[dict[str, str]]:
    """The notice events, exported (repeatedly, as an operator's exporter runs) until all
    ``expected`` first notices are in."""
    found: list[dict[str, str]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        served.rtb("export", "--out", str(out))
        with out.open(newline="") as file:
            found += [row for row in csv.DictReader(file) if row["kind"].startswith("notice_")]
        if len(found) >= expected:
            break
        time.sleep(0.2)
    return found


def test_racing_notices_on_two_workers_charge_once_and_the_log_sums_to_the_spend(
    redis_url: str, tmp_path: Path
) -> None:
    with serve_workers(redis_url) as served:
        statuses = asyncio.run(win_and_race(served))
        assert set(statuses) == {204}  # recorded or duplicate; none refused, none queued
        events = exported(served, tmp_path / "events.csv", 2 * IMPRESSIONS)
        prefix = served.environment["RTB_KEY_PREFIX"]
        day = datetime.now(UTC).date().isoformat()  # Pixel Games runs on UTC days
        client = redis.Redis.from_url(redis_url)
        try:
            spend = int(client.get(f"{prefix}spend:{{c:pixel-games}}:{day}") or 0)
        finally:
            client.close()
    assert spend == IMPRESSIONS * COST_MICROS  # each impression charged exactly once
    assert len(events) == 2 * IMPRESSIONS  # one win and one billing event per impression
    assert sum(int(e["charged_micros"] or 0) for e in events) == spend
    charging = [e for e in events if int(e["charged_micros"] or 0)]
    assert len({(e["auction_id"], e["imp_id"], e["bid_id"]) for e in charging}) == IMPRESSIONS
