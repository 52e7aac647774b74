"""A canary rollout served over HTTP on real Redis: a canary that bids a tenth of the value
(so rarely clears the floor) takes half the auctions until the bid-rate guard rolls it back
by itself; ``/readyz``, ``/metrics``, the event stream and the store all say so, and from
then on every auction is priced as control."""

import time
from pathlib import Path

import httpx
import orjson
import redis

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.e2e.conftest import SECRET
from tests.servers import serve


def _bidders(directory: Path) -> Path:
    spec = {
        "routers": [
            {
                "name": "house",
                "campaigns": [
                    {
                        "id": "clicks",
                        "advertiser": "Clicks Ltd",
                        "seat": "clicks",
                        "daily_budget": "1000",
                        "max_bid": "20",
                        "goal": {"type": "cpc", "target_cpc": "0.05"},
                        "creatives": [
                            {"id": "c", "w": 300, "h": 250, "adm": "<i>", "adomain": ["c.example"]}
                        ],
                    }
                ],
            }
        ]
    }
    path = directory / "bidders.json"
    path.write_bytes(orjson.dumps(spec))
    return path


def _canary(directory: Path, name: str) -> Path:
    spec = {
        "name": name,
        "share": 0.5,
        "bid_scale": 0.1,
        "check_interval_s": 0.1,
        "guards": {"min_requests": 40},
    }
    path = directory / "canary.json"
    path.write_bytes(orjson.dumps(spec))
    return path


def _auction(client: httpx.Client, n: int) -> bool:
    body = banner_request(id=f"canary-{n}")
    body["imp"][0]["bidfloor"] = 1.0
    response = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (200, 204), response.text
    return response.status_code == 200


def test_a_bad_canary_is_rolled_back_by_itself_and_says_so(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    settings = Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        redis_timeout_s=1.0,
        key_prefix=key_prefix,
        bidders_file=_bidders(tmp_path),
        canary_file=_canary(tmp_path, "shy-e2e"),
        notice_secret=SECRET,  # type: ignore[arg-type]
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        canary = client.get("/readyz").json()["canary"]
        assert (canary["state"], canary["share"], canary["bid_scale"]) == ("active", 0.5, 0.1)
        assert 'rtb_canary_active{canary="shy-e2e"} 1.0' in client.get("/metrics").text
        sent = 0
        while canary["state"] == "active" and sent < 2000:
            _auction(client, sent)
            sent += 1
            if sent % 20 == 0:
                canary = client.get("/readyz").json()["canary"]
        for _ in range(100):  # the watch looks every 0.1 s
            canary = client.get("/readyz").json()["canary"]
            if canary["state"] != "active":
                break
            time.sleep(0.05)
        assert canary["state"] == "rolled_back", canary
        assert canary["reason"].startswith("bid_rate 0 against control's 1")
        arms = canary["arms"]
        assert arms["canary"]["requests"] >= 40
        assert arms["control"]["bids"] == arms["control"]["requests"]
        assert client.get("/readyz").status_code == 200  # news, not unreadiness
        metrics = client.get("/metrics").text
        assert 'rtb_canary_active{canary="shy-e2e"} 0.0' in metrics
        assert 'rtb_canary_rollbacks_total{canary="shy-e2e"} 1.0' in metrics
        assert 'rtb_canary_requests_total{arm="canary",canary="shy-e2e"}' in metrics
        # From now on no auction is in the canary: every one bids the full value.
        assert all(_auction(client, 10_000 + n) for n in range(30))

    client_redis = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client_redis.get(f"{key_prefix}canary:shy-e2e") == canary["reason"]
        events: list[dict[str, str]] = []
        for _ in range(100):
            events = [
                fields
                for _, fields in client_redis.xrange(f"{key_prefix}events")
                if fields["kind"] == "canary_rolled_back"
            ]
            if events:
                break
            time.sleep(0.05)
    finally:
        client_redis.close()
    [event] = events
    assert (event["canary"], event["guard"]) == ("shy-e2e", "bid_rate")
    assert int(event["canary_requests"]) >= 40

    # A restarted process does not bring the rolled-back canary back.
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(100):
            canary = client.get("/readyz").json()["canary"]
            if canary["state"] != "active":
                break
            time.sleep(0.05)
        assert canary["state"] == "rolled_back"
        assert canary["reason"].startswith("rolled back earlier: bid_rate")
