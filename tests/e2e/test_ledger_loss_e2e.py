"""The store fails under a running exchange, against a real redis-server this test kills:

- it comes back with its data (AOF): the notices that came while it was down were queued on
  disk and are charged once when it returns;
- it comes back **empty**: the exchange notices, stops in-process bidding and charging,
  queues notices, says why in ``/readyz`` — and after ``rtb ledger restore`` from the
  exported event log resumes with the day's spend intact: no overspend, no double charge.
"""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import redis

from app.cli import main as rtb
from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.redis_process import RedisProcess
from tests.servers import serve

SECRET = "ledger-loss-secret-0123456789-abcdef"
PREFIX = "loss:"
BUDGET_MICROS = 60_000  # 0.06: thirty impressions at 2.00 CPM
COST_MICROS = 2_000


@pytest.fixture
def environment(
    tmp_path: Path, redis_process: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """What an operator's environment holds; ``rtb`` commands read it like ``rtb serve``."""
    bidders = tmp_path / "bidders.json"
    creative = {"id": "c", "w": 300, "h": 250, "adm": "<i>", "adomain": ["solo.example"]}
    campaign = {
        "id": "solo",
        "advertiser": "Solo",
        "seat": "solo",
        "bid_cpm": "2.00",
        "daily_budget": str(BUDGET_MICROS / 1_000_000),
        "creatives": [creative],
    }
    bidders.write_bytes(orjson.dumps({"routers": [{"name": "house", "campaigns": [campaign]}]}))
    for name, value in {
        "RTB_STORE": "redis",
        "RTB_REDIS_URL": redis_process.url,
        "RTB_KEY_PREFIX": PREFIX,
        "RTB_BIDDERS_FILE": str(bidders),
        "RTB_NOTICE_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def settings(**changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "ledger_check_s": 0.1,
        "spool_drain_s": 0.1,
        "store_breaker_cooldown_s": 0.2,
        "log_json": True,
        "log_level": "error",
    }
    fields.update(changes)
    return Settings(**fields)


def won(client: httpx.Client, n: int) -> str | None:
    """The billing URL of the bid won in auction ``n`` (first price), or None."""
    answer = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(banner_request(id=f"loss-{n}", at=1)),
        headers={"content-type": "application/json"},
    )
    if answer.status_code == 204:
        return None
    assert answer.status_code == 200, answer.text
    burl: str = answer.json()["seatbid"][0]["bid"][0]["burl"]
    return burl


WHY_NO_WIN = (
    "rtb_nobids_total",
    "rtb_bidder_calls_total",
    "rtb_bidder_errors_total",
    "rtb_store_",
    "rtb_ledger_state",
)


def wins(client: httpx.Client, numbers: range) -> list[str]:
    """The billing URLs of auctions ``numbers``, each of which must be won; if one is not,
    the failure says why, from the exchange's own counters (a deadline missed, the store's
    circuit, the ledger's state)."""
    bills = []
    for n in numbers:
        bill = won(client, n)
        if bill is None:
            lines = client.get("/metrics").text.splitlines()
            why = [line for line in lines if line.startswith(WHY_NO_WIN) and "_bucket" not in line]
            raise AssertionError(f"auction {n} was not won:\n" + "\n".join(why))
        bills.append(bill)
    return bills


def notice(client: httpx.Client, url: str) -> tuple[int, str | None]:
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")
    return response.status_code, response.headers.get("x-notice-result")


def spend(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        value = client.get(f"{PREFIX}spend:{{c:solo}}:{datetime.now(UTC).date().isoformat()}")
    finally:
        client.close()
    return int(value or 0)


def wait(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def spool_empty(client: httpx.Client) -> bool:
    return "rtb_notice_spool_bytes 0.0" in client.get("/metrics").text


def test_notices_during_an_outage_are_queued_and_charged_once_when_the_store_returns(
    environment: Path, redis_process: RedisProcess
) -> None:
    assert rtb(["ledger", "init"]) == 0
    with serve(create_app(settings())) as url, httpx.Client(base_url=url, timeout=5) as client:
        bills = wins(client, range(6))
        assert notice(client, str(bills[0])) == (204, "recorded")
        redis_process.stop()
        during = [notice(client, str(b)) for b in bills[1:]]
        assert during == [(202, "queued")] * 5  # kept on disk, not lost, not 503
        redis_process.start()  # with its data: the ledger is the same
        wait(lambda: spool_empty(client), "the spool is drained")
        assert spend(redis_process.url) == 6 * COST_MICROS
        replays = [notice(client, str(b)) for b in bills]
        assert replays == [(204, "duplicate")] * 6
        assert spend(redis_process.url) == 6 * COST_MICROS


def test_a_store_restarted_empty_is_noticed_and_never_spent_twice(
    environment: Path, redis_process: RedisProcess
) -> None:
    assert rtb(["ledger", "init"]) == 0
    export = environment / "events.csv"
    with serve(create_app(settings())) as url, httpx.Client(base_url=url, timeout=5) as client:
        billed = wins(client, range(10))
        for bill in billed:
            assert notice(client, str(bill)) == (204, "recorded")
        pending = wins(client, range(10, 15))  # won, billing notice not yet in
        before = spend(redis_process.url)
        assert before == 10 * COST_MICROS
        wait(lambda: rtb(["export", "--out", str(export)]) == 0, "the events are exported")

        redis_process.stop()
        redis_process.wipe()
        redis_process.start()  # empty: no spend, no markers, no ledger record

        wait(lambda: client.get("/readyz").status_code == 503, "readiness fails")
        ready = client.get("/readyz").json()
        assert ready["ledger"]["state"] == "lost"
        assert ready["store"] is True  # Redis answers; it is its data that is gone
        assert all(won(client, n) is None for n in range(100, 110))  # no in-process bid
        replayed = [notice(client, str(b)) for b in billed]
        assert replayed == [(202, "queued")] * 10  # not charged again on an empty store
        late = [notice(client, str(b)) for b in pending]
        assert late == [(202, "queued")] * 5
        assert spend(redis_process.url) == 0

        assert rtb(["ledger", "status"]) == 1  # says what is wrong
        assert rtb(["ledger", "restore", "--events", str(export)]) == 0
        wait(lambda: client.get("/readyz").status_code == 200, "the restored ledger is adopted")
        wait(lambda: spool_empty(client), "the spool is drained")
        # the day's spend as it was, plus the five late notices: the replays charged nothing
        assert spend(redis_process.url) == before + 5 * COST_MICROS
        assert [notice(client, str(b)) for b in billed + pending] == [(204, "duplicate")] * 15

        spent_out = [won(client, n) for n in range(200, 240)]
        for last in spent_out:
            if last is not None:
                notice(client, last)
        assert spend(redis_process.url) == BUDGET_MICROS  # delivered to the micro, not beyond
        assert sum(last is not None for last in spent_out) == 15


def test_a_store_restarted_empty_can_be_stopped_for_the_day_without_a_log(
    environment: Path, redis_process: RedisProcess
) -> None:
    """No export to restore from: the operator stops every campaign for today instead."""
    assert rtb(["ledger", "init"]) == 0
    with serve(create_app(settings())) as url, httpx.Client(base_url=url, timeout=5) as client:
        bill = won(client, 1)
        assert bill is not None
        assert notice(client, bill) == (204, "recorded")
        redis_process.stop()
        redis_process.wipe()
        redis_process.start()
        wait(lambda: client.get("/readyz").status_code == 503, "readiness fails")
        assert rtb(["ledger", "restore", "--exhaust-today"]) == 0
        wait(lambda: client.get("/readyz").status_code == 200, "the new ledger is adopted")
        assert spend(redis_process.url) == BUDGET_MICROS
        assert won(client, 2) is None  # nothing more today
        assert notice(client, bill)[0] in (204, 202)  # a replay: never an error


def test_a_new_store_is_not_used_before_the_ledger_is_created(
    environment: Path, redis_process: RedisProcess
) -> None:
    with serve(create_app(settings())) as url, httpx.Client(base_url=url, timeout=5) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["ledger"]["state"] == "uninitialised"
        assert "rtb ledger init" in ready.json()["ledger"]["reason"]
        assert won(client, 1) is None
        assert rtb(["ledger", "init"]) == 0
        wait(lambda: client.get("/readyz").status_code == 200, "the ledger is adopted")
        assert won(client, 2) is not None
    assert rtb(["ledger", "init"]) == 2  # once only
