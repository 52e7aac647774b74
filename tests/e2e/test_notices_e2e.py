"""Win and billing notices over a real socket, charged against a real Redis."""

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import redis

from app.main import create_app
from exchange.notice_token import NoticeClaim, NoticeSigner
from exchange.settings import Settings
from tests.builders import banner_request
from tests.e2e.conftest import SECRET, Exchange, Recorder
from tests.servers import serve


def won_bid(exchange: Exchange, **changes: object) -> dict[str, str]:
    response = exchange.client.post(
        "/openrtb2/auction",
        content=orjson.dumps(banner_request(**changes)),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    bid: dict[str, str] = answer["seatbid"][0]["bid"][0]
    bid["auction_id"] = answer["bidid"]  # the exchange's own id: what notices carry
    return bid


def spend(redis_url: str, exchange: Exchange, campaign_id: str) -> int:
    day = datetime.now(UTC).date().isoformat()  # the test campaigns run on UTC days
    client = redis.Redis.from_url(redis_url)
    try:
        value = client.get(f"{exchange.key_prefix}spend:{{c:{campaign_id}}}:{day}")
    finally:
        client.close()
    return int(value) if value is not None else 0


def notice(exchange: Exchange, url: str) -> tuple[int, str | None]:
    parts = urlsplit(url)
    response = exchange.client.get(f"{parts.path}?{parts.query}")
    return response.status_code, response.headers.get("x-notice-result")


def wait_for(recorder: Recorder, prefix: str, timeout_s: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        calls = [c for c in recorder.calls if c.startswith(prefix)]
        if calls:
            return calls
        time.sleep(0.02)
    return []


def test_win_notice_charges_once_and_replays_charge_nothing(
    exchange: Exchange, redis_url: str
) -> None:
    bid = won_bid(exchange)
    assert spend(redis_url, exchange, "winner") == 0
    assert notice(exchange, bid["nurl"]) == (204, "recorded")
    assert spend(redis_url, exchange, "winner") == 1910  # 1.91 CPM = 1910 micros per impression
    for _ in range(3):
        assert notice(exchange, bid["nurl"]) == (204, "duplicate")
    assert notice(exchange, bid["burl"]) == (204, "recorded")  # billing: recorded, not recharged
    assert notice(exchange, bid["burl"]) == (204, "duplicate")
    assert spend(redis_url, exchange, "winner") == 1910
    assert spend(redis_url, exchange, "runner-up") == 0


def test_billing_notice_alone_charges_once(exchange: Exchange, redis_url: str) -> None:
    first, second = won_bid(exchange, id="auction-a"), won_bid(exchange, id="auction-b")
    assert notice(exchange, first["burl"]) == (204, "recorded")
    assert notice(exchange, second["burl"]) == (204, "recorded")
    assert notice(exchange, second["nurl"]) == (204, "recorded")
    assert spend(redis_url, exchange, "winner") == 2 * 1910


def test_forged_tampered_or_misdirected_tokens_are_403_and_charge_nothing(
    exchange: Exchange, redis_url: str
) -> None:
    bid = won_bid(exchange)
    token = parse_qs(urlsplit(bid["nurl"]).query)["t"][0]
    payload, _, mac = token.partition(".")
    cases = [
        f"/notices/win?t={payload}.{mac[:-2]}AA",  # forged signature
        f"/notices/win?t={payload[:-4]}.{mac}",  # tampered payload
        f"/track/click?t={token}",  # an impression token where no click redirect was made
        "/notices/win?t=garbage",
    ]
    for path in cases:
        response = exchange.client.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["field"] == "t"
    missing = exchange.client.get("/notices/win")
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "t"
    assert spend(redis_url, exchange, "winner") == 0
    assert notice(exchange, bid["nurl"]) == (204, "recorded")


def test_win_and_billing_share_one_token_and_charge_once(
    exchange: Exchange, redis_url: str
) -> None:
    bid = won_bid(exchange)
    token = parse_qs(urlsplit(bid["nurl"]).query)["t"]
    assert parse_qs(urlsplit(bid["burl"]).query)["t"] == token
    assert notice(exchange, bid["burl"]) == (204, "recorded")
    charged = spend(redis_url, exchange, "winner")
    assert charged > 0
    assert notice(exchange, bid["nurl"]) == (204, "recorded")  # its own notice, no new charge
    assert notice(exchange, bid["burl"]) == (204, "duplicate")
    assert spend(redis_url, exchange, "winner") == charged


def test_test_auctions_are_not_billed(exchange: Exchange, redis_url: str) -> None:
    bid = won_bid(exchange, test=1)
    assert notice(exchange, bid["burl"]) == (204, "recorded")
    assert spend(redis_url, exchange, "winner") == 0


def test_dsp_notice_urls_are_forwarded_with_macros(exchange: Exchange, recorder: Recorder) -> None:
    bid = won_bid(exchange, id="auction-fwd")
    auction = bid["auction_id"]
    notice(exchange, bid["nurl"])
    notice(exchange, bid["nurl"])  # a replay is not forwarded again
    notice(exchange, bid["burl"])
    wins = wait_for(recorder, f"{recorder.base_url}/win?auction={auction}")
    bills = wait_for(recorder, f"{recorder.base_url}/bill?auction={auction}")
    assert wins == [f"{recorder.base_url}/win?auction={auction}&price=1.91"]
    assert bills == [f"{recorder.base_url}/bill?auction={auction}&price=1.91"]


def test_a_campaign_stops_bidding_when_its_budget_is_spent(
    exchange: Exchange, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    day = datetime.now(UTC).date().isoformat()
    try:  # 100 USD budget; leave less than one impression at 2.40 CPM (2400 micros)
        client.set(f"{exchange.key_prefix}spend:{{c:winner}}:{day}", 100_000_000 - 2399)
    finally:
        client.close()
    bid = won_bid(exchange)
    assert bid["cid"] == "runner-up"
    assert bid["price"] == 0.51  # alone now: the floor (0.50) plus the increment


def test_health_readiness_and_metrics(exchange: Exchange) -> None:
    assert exchange.client.get("/healthz").json() == {"status": "ok"}
    ready = exchange.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "store": True,
        "store_circuit": "closed",
        "bidders": {"house": True},
        "ledger": {"state": "ready", "reason": ""},
        "models": {
            "degraded": False,
            "problems": [],
            "last_reload_error": None,
            "path": "compiled",
            "paths": {"ctr": "compiled", "cvr": "compiled"},
            "path_problems": [],
        },
    }
    won_bid(exchange)
    metrics = exchange.client.get("/metrics").text
    assert 'rtb_auction_requests_total{outcome="bid"} 1.0' in metrics
    assert 'rtb_wins_total{bidder="house"} 1.0' in metrics
    assert 'rtb_bids_total{bidder="house"} 2.0' in metrics
    assert "rtb_auction_latency_seconds_count 1.0" in metrics
    assert 'rtb_model_scoring_path{model="ctr",path="compiled"} 1.0' in metrics
    assert 'rtb_model_scoring_path{model="cvr",path="compiled"} 1.0' in metrics


def test_openapi_documents_the_auction_with_examples(exchange: Exchange) -> None:
    spec = exchange.client.get("/openapi.json").json()
    operation = spec["paths"]["/openrtb2/auction"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/BidRequest"}
    assert body["examples"]["simple_banner"]["value"]["imp"][0]["banner"]["w"] == 300
    assert {"200", "204", "400", "413", "415"} <= set(operation["responses"])
    assert "Imp" in spec["components"]["schemas"]
    assert "BidResponse" in spec["components"]["schemas"]
    assert exchange.client.get("/docs").status_code == 200


def test_losers_get_a_loss_notice_with_reason_and_price_to_win(
    exchange: Exchange, recorder: Recorder
) -> None:
    auction = won_bid(exchange, id="auction-loss")["auction_id"]
    losses = wait_for(recorder, f"{recorder.base_url}/loss?auction={auction}")
    # Lost to a higher bid (102); 2.40 would have tied, so 2.400001 was needed to win.
    assert losses == [f"{recorder.base_url}/loss?auction={auction}&reason=102&min=2.400001"]


def held(redis_url: str, exchange: Exchange, campaign_id: str) -> int:
    day = datetime.now(UTC).date().isoformat()
    client = redis.Redis.from_url(redis_url)
    try:
        value = client.get(f"{exchange.key_prefix}held:{{c:{campaign_id}}}:{day}")
    finally:
        client.close()
    return int(value) if value is not None else 0


def test_holds_are_released_for_losers_and_settled_for_the_winner(
    exchange: Exchange, redis_url: str
) -> None:
    bid = won_bid(exchange, id="auction-holds")
    deadline = time.monotonic() + 5
    while held(redis_url, exchange, "runner-up") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert held(redis_url, exchange, "runner-up") == 0  # lost: released at once
    assert held(redis_url, exchange, "winner") == 2400  # won: 2.40 CPM held until billed
    assert notice(exchange, bid["burl"]) == (204, "recorded")
    assert held(redis_url, exchange, "winner") == 0
    assert spend(redis_url, exchange, "winner") == 1910


def test_a_replayed_request_id_is_a_new_auction_charged_on_its_own(
    exchange: Exchange, redis_url: str
) -> None:
    first, second = won_bid(exchange, id="same-id"), won_bid(exchange, id="same-id")
    assert first["auction_id"] != second["auction_id"]
    assert notice(exchange, first["burl"]) == (204, "recorded")
    assert notice(exchange, second["burl"]) == (204, "recorded")
    assert spend(redis_url, exchange, "winner") == 2 * 1910


def test_auctions_and_notices_reach_the_event_stream(exchange: Exchange, redis_url: str) -> None:
    bid = won_bid(exchange, id="auction-events")
    notice(exchange, bid["burl"])
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        key = f"{exchange.key_prefix}events"
        kinds: dict[str, dict[str, str]] = {}
        for _poll in range(250):
            kinds = {fields["kind"]: fields for _, fields in client.xrange(key)}
            if {"auction", "notice_billing"} <= set(kinds):
                break
            time.sleep(0.02)
    finally:
        client.close()
    auction = kinds["auction"]
    assert (auction["auction_id"], auction["request_id"]) == (bid["auction_id"], "auction-events")
    assert auction["winners"].endswith("|2400000|1910000")
    assert kinds["notice_billing"]["charged_micros"] == "1910"
    assert not any("ip" in fields or "ua" in fields for fields in kinds.values())


def token_claim(url: str) -> NoticeClaim:
    token = parse_qs(urlsplit(url).query)["t"][0]
    return NoticeSigner(SECRET.encode()).verify(token, time.time())


def test_a_token_carries_no_user_key_unless_a_cap_or_the_users_consent_needs_it(
    exchange: Exchange,
) -> None:
    """No cap here: only a request that allows profiling puts the user into the token."""
    bid = won_bid(exchange, id="uncapped-token", regs={"gdpr": 1})  # no TC string
    assert token_claim(bid["burl"]).user_key == ""
    assert token_claim(bid["nurl"]).user_key == ""
    assert not token_claim(bid["burl"]).profiled
    profiled = token_claim(won_bid(exchange, id="profiled-token")["burl"])
    assert profiled.profiled
    assert profiled.user_key


def test_frequency_caps_count_shown_impressions_per_user(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    campaigns = {
        "routers": [
            {
                "name": "house",
                "campaigns": [
                    {
                        "id": "capped",
                        "advertiser": "Capped",
                        "seat": "capped",
                        "bid_cpm": "2.00",
                        "daily_budget": "100",
                        "frequency_cap": [{"count": 1, "per": "day"}],
                        "creatives": [
                            {"id": "c", "w": 300, "h": 250, "adm": "<i>", "adomain": ["c.example"]}
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "capped.json"
    path.write_bytes(orjson.dumps(campaigns))
    settings = Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        key_prefix=key_prefix,
        bidders_file=path,
        notice_secret=SECRET,  # type: ignore[arg-type]
        log_json=True,
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        shown = Exchange(url, key_prefix, client)
        first = won_bid(shown, id="cap-1")
        user_key = token_claim(first["burl"]).user_key
        assert user_key  # a capped campaign's notice needs it to count the impression
        raw_user = banner_request()["user"]["id"]
        assert raw_user not in user_key
        unkeyed = hashlib.blake2b(raw_user.encode(), digest_size=8, person=b"rtb-user-key")
        assert user_key != unkeyed.hexdigest()  # the old bare hash, recomputable by anyone
        assert won_bid(shown, id="cap-2")["cid"] == "capped"  # not shown yet: still bids
        assert notice(shown, first["burl"]) == (204, "recorded")
        answer = client.post(
            "/openrtb2/auction",
            content=orjson.dumps(banner_request(id="cap-3")),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 204  # one a day for this user, shown
        someone_else = banner_request(id="cap-4")
        someone_else["user"]["id"] = "another-user"
        again = client.post(
            "/openrtb2/auction",
            content=orjson.dumps(someone_else),
            headers={"content-type": "application/json"},
        )
        assert again.status_code == 200
