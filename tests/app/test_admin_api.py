"""The admin API over HTTP: the exchange served on a real socket (in-process, uvicorn in a
thread), its counters in memory and in a real Redis, changed by an operator while it runs."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import redis
from fastapi import FastAPI, Request
from starlette.responses import Response
from structlog.testing import capture_logs

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request, fixed_and_valued_router, write_bidders_file
from tests.servers import free_port, serve

TOKEN = "admin-token-0123456789-abcdefghijklmnop"
SECRET = "admin-notice-secret-0123456789-abcdef"
DSP_CREDENTIAL = "Bearer dsp-credential-never-shown"


@dataclass
class Dsp:
    """An external DSP that never bids and counts the calls it gets."""

    url: str = ""
    calls: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def dsp() -> Iterator[Dsp]:
    record = Dsp()
    app = FastAPI()

    @app.post("/bid")
    async def bid(request: Request) -> Response:
        record.calls.append((await request.body()).decode())
        return Response(status_code=204)

    with serve(app) as url:
        record.url = url
        yield record


def bidders_file(directory: Path, dsp_url: str) -> Path:
    """A fixed-price campaign on 300x250, a value-based one on 728x90, an external DSP."""
    dsps = [
        {
            "name": "acme-dsp",
            "endpoint": f"{dsp_url}/bid",
            "protocol": "http1.1",
            "media_types": ["banner"],
            "sizes": ["300x250"],
            "seats": ["acme"],
            "auth_header": {"name": "authorization", "value": DSP_CREDENTIAL},
        }
    ]
    return write_bidders_file(directory, [fixed_and_valued_router()], dsps)


def settings_for(
    store: str, tmp_path: Path, redis_url: str, key_prefix: str, dsp_url: str, **more: Any
) -> Settings:
    return Settings(
        store=store,  # type: ignore[arg-type]
        ledger_init="auto",
        redis_url=redis_url,
        redis_timeout_s=1.0,
        key_prefix=key_prefix,
        bidders_file=bidders_file(tmp_path, dsp_url),
        notice_secret=SECRET,  # type: ignore[arg-type]
        admin_token=TOKEN,  # type: ignore[arg-type]
        pacing_interval_s=0.2,
        log_json=True,
        **more,
    )


@dataclass(frozen=True)
class Exchange:
    client: httpx.Client
    admin: httpx.Client
    store: str
    key_prefix: str


@contextmanager
def running(
    store: str, tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp, **more: Any
) -> Iterator[Exchange]:
    settings = settings_for(store, tmp_path, redis_url, key_prefix, dsp.url, **more)
    with (
        serve(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=5) as client,
        httpx.Client(
            base_url=url, timeout=5, headers={"authorization": f"Bearer {TOKEN}"}
        ) as admin,
    ):
        yield Exchange(client, admin, store, key_prefix)


@pytest.fixture(params=["memory", "redis"])
def exchange(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp
) -> Iterator[Exchange]:
    with running(request.param, tmp_path, redis_url, key_prefix, dsp) as exchange:
        yield exchange


@pytest.fixture
def redis_exchange(tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp) -> Iterator[Exchange]:
    """With the event stream in Redis, where the test can read it."""
    with running("redis", tmp_path, redis_url, key_prefix, dsp) as exchange:
        yield exchange


def auction(exchange: Exchange, **changes: Any) -> httpx.Response:
    body = banner_request(at=1, **changes)  # first price: a winner pays its own bid
    return exchange.client.post("/openrtb2/auction", content=orjson.dumps(body))


def winner(exchange: Exchange, **changes: Any) -> dict[str, Any]:
    response = auction(exchange, **changes)
    assert response.status_code == 200, response.text
    bid: dict[str, Any] = response.json()["seatbid"][0]["bid"][0]
    return bid


def change(exchange: Exchange, campaign_id: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return exchange.admin.patch(
        f"/admin/campaigns/{campaign_id}",
        content=content,
        headers={"content-type": "application/json"},
    )


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["field"]


# --- off by default, and the token -------------------------------------------------------


def test_without_a_token_setting_there_is_no_admin_api(
    tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp
) -> None:
    settings = settings_for("memory", tmp_path, redis_url, key_prefix, dsp.url)
    settings = settings.model_copy(update={"admin_token": None})
    app = create_app(settings)
    assert not [path for path in app.openapi()["paths"] if path.startswith("/admin")]
    with serve(app) as url:
        for token in (None, TOKEN):
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = httpx.get(f"{url}/admin/campaigns", headers=headers)
            assert response.status_code == 404
        assert httpx.get(f"{url}/status").status_code == 200  # the public part is there


def test_a_short_admin_token_is_refused_without_being_echoed() -> None:
    with pytest.raises(ValueError, match="admin_token must be at least 32 bytes") as refused:
        Settings(admin_token="short-token-value")  # type: ignore[arg-type]
    assert "short-token-value" not in str(refused.value)


@pytest.mark.parametrize(
    ("authorization", "field_message", "challenge"),
    [
        (None, "a bearer token is required", 'Bearer realm="rtb-admin"'),
        ("Basic YWRtaW46YWRtaW4=", "a bearer token is required", 'Bearer realm="rtb-admin"'),
        ("Bearer", "a bearer token is required", 'Bearer realm="rtb-admin"'),
        (
            f"Bearer {TOKEN[:-1]}",
            "invalid bearer token",
            'Bearer realm="rtb-admin", error="invalid_token"',
        ),
        (
            f"Bearer {TOKEN}x",
            "invalid bearer token",
            'Bearer realm="rtb-admin", error="invalid_token"',
        ),
        (
            "Bearer wrong-token-wrong-token-wrong-token",
            "invalid bearer token",
            'Bearer realm="rtb-admin", error="invalid_token"',
        ),
    ],
)
def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(
    exchange: Exchange, authorization: str | None, field_message: str, challenge: str
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    for method, path in [
        ("GET", "/admin/campaigns"),
        ("PATCH", "/admin/campaigns/fixed"),
        ("GET", "/admin/campaigns/fixed/state"),
        ("PATCH", "/admin/bidders/house"),
        ("POST", "/admin/models/reload"),
    ]:
        response = exchange.client.request(
            method, path, headers=headers, content=b'{"enabled": false}'
        )
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == challenge
        assert response.json() == {"error": {"field": "authorization", "message": field_message}}
    # nothing changed by the refused PATCH calls
    assert exchange.admin.get("/admin/campaigns/fixed").json()["enabled"] is True
    assert winner(exchange)["cid"] == "fixed"


def test_a_refused_token_is_logged_by_name_never_by_value(exchange: Exchange) -> None:
    presented = "Bearer presented-secret-guess-0123456789"
    with capture_logs() as entries:
        response = exchange.client.get(
            "/admin/campaigns/fixed/state", headers={"authorization": presented}
        )
    assert response.status_code == 401
    rejected = [e for e in entries if e["event"] == "request_rejected"]
    assert rejected == [
        {
            "event": "request_rejected",
            "log_level": "info",
            "route": "/admin/campaigns/{campaign_id}/state",
            "status": 401,
            "reason": "unauthorized",
            "field": "authorization",
        }
    ]
    text = repr(entries)
    assert "presented-secret-guess" not in text
    assert TOKEN not in text


def test_the_settings_never_show_the_token(
    tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp
) -> None:
    settings = settings_for("memory", tmp_path, redis_url, key_prefix, dsp.url)
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


# --- campaigns ----------------------------------------------------------------------------


def test_the_campaigns_are_listed_with_their_money(exchange: Exchange) -> None:
    response = exchange.admin.get("/admin/campaigns")
    assert response.status_code == 200
    campaigns = {c["id"]: c for c in response.json()["campaigns"]}
    assert set(campaigns) == {"fixed", "valued"}
    fixed, valued = campaigns["fixed"], campaigns["valued"]
    assert (fixed["mode"], fixed["daily_budget"], fixed["daily_budget_micros"]) == (
        "fixed",
        "100.00",
        100_000_000,
    )
    assert (fixed["bid_cpm"], fixed["bid_cpm_micros"], fixed["goal"]) == ("2.40", 2_400_000, None)
    assert valued["mode"] == "value"
    assert valued["goal"] == {
        "type": "roi",
        "target_cpc": None,
        "target_cpa": None,
        "conversion_value": "60.00",
        "target_roi": "4",
    }
    assert (valued["min_bid"], valued["max_bid"]) == ("0.10", "6.00")
    assert exchange.admin.get("/admin/campaigns/valued").json() == valued


def test_a_new_price_and_budget_apply_to_the_next_auction(exchange: Exchange) -> None:
    assert winner(exchange)["price"] == 2.40
    response = change(exchange, "fixed", {"bid_cpm": "3.125", "daily_budget": 250.5})
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["bid_cpm_micros"], view["daily_budget_micros"]) == (3_125_000, 250_500_000)
    assert view["daily_budget"] == "250.50"  # the JSON number was read exactly
    assert winner(exchange)["price"] == 3.125
    # the two wins so far are held until billed; a budget one micro short of holding one
    # more impression (3.125 / 1000 = 3,125 micros) makes no bid, one at it bids again
    held = exchange.admin.get("/admin/campaigns/fixed/state").json()["held_micros"]
    assert held == 2_400 + 3_125
    short = Decimal(held + 3_124).scaleb(-6)
    assert change(exchange, "fixed", {"daily_budget": str(short)}).status_code == 200
    assert auction(exchange).status_code == 204
    enough = Decimal(held + 3_125).scaleb(-6)
    assert change(exchange, "fixed", {"daily_budget": str(enough)}).status_code == 200
    assert winner(exchange)["cid"] == "fixed"


def test_a_paused_campaign_stops_bidding_and_resumes(exchange: Exchange) -> None:
    paused = change(exchange, "fixed", {"enabled": False})
    assert paused.json()["enabled"] is False
    assert auction(exchange).status_code == 204
    assert exchange.admin.get("/admin/campaigns/fixed/state").json()["enabled"] is False
    assert change(exchange, "fixed", {"enabled": True}).json()["enabled"] is True
    assert winner(exchange)["cid"] == "fixed"


def test_goal_targets_and_bid_bounds_of_a_value_based_campaign(exchange: Exchange) -> None:
    before = exchange.admin.get("/admin/campaigns/valued").json()
    response = change(
        exchange, "valued", {"conversion_value": "80", "target_roi": "2.5", "max_bid": "0.5"}
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["goal"]["conversion_value"] == "80.00"
    assert after["goal"]["target_roi"] == "2.5"
    assert after["max_bid"] == "0.50"
    # the bid without models: 0.01 × 0.05 × 80 / 2.5 × 1000 = 16 CPM, clipped to 0.50
    assert before["bid_cpm_micros"] != after["bid_cpm_micros"] == 500_000


def test_a_billed_impression_shows_in_the_campaigns_state(exchange: Exchange) -> None:
    state = exchange.admin.get("/admin/campaigns/fixed/state").json()
    assert (state["spend_micros"], state["held_micros"]) == (0, 0)
    assert state["remaining_micros"] == state["daily_budget_micros"] == 100_000_000
    bid = winner(exchange)
    state = exchange.admin.get("/admin/campaigns/fixed/state").json()
    assert (state["spend_micros"], state["held_micros"]) == (0, 2_400)  # held for the win
    burl = urlsplit(bid["burl"])
    assert exchange.client.get(f"{burl.path}?{burl.query}").status_code == 204
    state = exchange.admin.get("/admin/campaigns/fixed/state").json()
    assert state["spend_micros"] == 2_400
    assert state["held_micros"] == 0
    assert state["remaining_micros"] == 100_000_000 - 2_400
    assert (state["spend"], state["remaining"]) == ("0.0024", "99.9976")
    assert set(state["pacing"]) == {
        "multiplier",
        "participation",
        "level",
        "stepped_at",
        "planned_micros",
    }


# --- hostile input: refused with the field named, nothing changed --------------------------

BAD_CHANGES: list[tuple[str, bytes | dict[str, Any], int, str]] = [
    ("fixed", {"daily_budget": "-5"}, 422, "daily_budget"),
    ("fixed", {"daily_budget": 0}, 422, "daily_budget"),
    ("fixed", {"daily_budget": "0.0000001"}, 422, "daily_budget"),
    ("fixed", b'{"daily_budget": 100.1234567}', 422, "daily_budget"),
    ("fixed", {"daily_budget": "1e30"}, 422, "daily_budget"),
    ("fixed", b'{"daily_budget": 1' + b"0" * 40 + b"}", 422, "daily_budget"),
    ("fixed", {"daily_budget": "NaN"}, 422, "daily_budget"),
    ("fixed", {"daily_budget": "Infinity"}, 422, "daily_budget"),
    ("fixed", b'{"daily_budget": NaN}', 400, "body"),
    ("fixed", {"daily_budget": "lots"}, 422, "daily_budget"),
    ("fixed", {"daily_budget": True}, 422, "daily_budget"),
    ("fixed", {"daily_budget": ["100"]}, 422, "daily_budget"),
    ("fixed", {"enabled": "no"}, 422, "enabled"),
    ("fixed", {"enabled": 0}, 422, "enabled"),
    ("fixed", {"budget": "100"}, 422, "budget"),
    ("fixed", {"daily_budget": "200", "time_zone": "UTC"}, 422, "time_zone"),
    ("fixed", {}, 422, "body"),
    ("fixed", [], 422, "body"),
    ("fixed", b"not json", 400, "body"),
    ("fixed", b"", 400, "body"),
    ("fixed", b"[" * 100_000, 413, "body"),
    ("fixed", {"target_cpc": "1"}, 422, "target_cpc"),
    ("fixed", {"max_bid": "1"}, 422, "max_bid"),
    ("fixed", {"daily_budget": "200", "bid_cpm": "1000.000001"}, 422, "bid_cpm"),
    ("valued", {"bid_cpm": "2"}, 422, "bid_cpm"),
    ("valued", {"target_cpa": "2"}, 422, "target_cpa"),
    ("valued", {"min_bid": "7"}, 422, "min_bid"),
    ("valued", {"max_bid": "0.05"}, 422, "max_bid"),
    ("valued", {"max_bid": "5000"}, 422, "max_bid"),
    ("valued", {"daily_budget": "75", "target_roi": "0"}, 422, "target_roi"),
    ("nope", {"daily_budget": "1"}, 404, "campaign_id"),
    ("nope", b"not json", 404, "campaign_id"),
]


def test_bad_changes_are_refused_and_change_nothing(exchange: Exchange) -> None:
    before = exchange.admin.get("/admin/campaigns").json()
    for campaign_id, body, status, field_name in BAD_CHANGES:
        response = change(exchange, campaign_id, body)
        assert error(response) == (status, field_name), (body, response.text)
    assert exchange.admin.get("/admin/campaigns").json() == before
    assert winner(exchange)["price"] == 2.40


def test_a_body_that_is_not_json_by_type_is_415(exchange: Exchange) -> None:
    response = exchange.admin.patch(
        "/admin/campaigns/fixed",
        content=b"daily_budget=5",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert error(response) == (415, "content-type")


def test_an_unknown_campaign_is_404_everywhere(exchange: Exchange) -> None:
    for path in ("/admin/campaigns/nope", "/admin/campaigns/nope/state"):
        response = exchange.admin.get(path)
        assert response.json() == {
            "error": {"field": "campaign_id", "message": "no in-process campaign 'nope'"}
        }
        assert response.status_code == 404


# --- bidders and models -------------------------------------------------------------------


def test_a_disabled_bidder_is_not_called_until_enabled(exchange: Exchange, dsp: Dsp) -> None:
    auction(exchange)
    called = len(dsp.calls)
    assert called > 0  # the external DSP takes 300x250
    response = exchange.admin.patch("/admin/bidders/acme-dsp", json={"enabled": False})
    assert response.json() == {"name": "acme-dsp", "kind": "external", "enabled": False}
    house = exchange.admin.patch("/admin/bidders/house", json={"enabled": False})
    assert house.json() == {"name": "house", "kind": "in-process", "enabled": False}
    assert auction(exchange).status_code == 204
    assert len(dsp.calls) == called
    listed = exchange.admin.get("/admin/bidders").json()["bidders"]
    assert {b["name"]: b["enabled"] for b in listed} == {"house": False, "acme-dsp": False}
    exchange.admin.patch("/admin/bidders/acme-dsp", json={"enabled": True})
    exchange.admin.patch("/admin/bidders/house", json={"enabled": True})
    assert winner(exchange)["cid"] == "fixed"
    assert len(dsp.calls) == called + 1


def test_bad_bidder_changes_are_refused(exchange: Exchange) -> None:
    for name, body, status, field_name in [
        ("nope", {"enabled": False}, 404, "name"),
        ("house", {"enabled": "false"}, 422, "enabled"),
        ("house", {}, 422, "enabled"),
        ("house", {"enabled": False, "weight": 2}, 422, "weight"),
    ]:
        response = exchange.admin.patch(f"/admin/bidders/{name}", json=body)
        assert error(response) == (status, field_name)
    assert all(b["enabled"] for b in exchange.admin.get("/admin/bidders").json()["bidders"])


def test_models_reload_on_demand(exchange: Exchange) -> None:
    response = exchange.admin.post("/admin/models/reload")
    assert response.status_code == 200
    assert response.json() == {
        "swapped": True,
        "degraded": False,
        "path": response.json()["path"],
        "error": None,
    }
    assert response.json()["path"] in {"compiled", "xgboost-c", "xgboost"}


# --- every change is an event -------------------------------------------------------------


def events(redis_url: str, key_prefix: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [fields for _, fields in client.xrange(f"{key_prefix}events")]
    finally:
        client.close()


def test_changes_are_recorded_on_the_event_stream(redis_exchange: Exchange, redis_url: str) -> None:
    exchange = redis_exchange
    change(exchange, "fixed", {"daily_budget": "120.5", "enabled": False})
    exchange.admin.patch("/admin/bidders/acme-dsp", json={"enabled": False})
    exchange.admin.post("/admin/models/reload")
    wanted = {"admin_campaign_changed", "admin_bidder_changed", "admin_models_reloaded"}
    found: dict[str, dict[str, str]] = {}
    for _ in range(100):  # the sink writes batches every 50 ms
        found = {e["kind"]: e for e in events(redis_url, exchange.key_prefix)}
        if wanted <= set(found):
            break
        time.sleep(0.05)
    campaign = found["admin_campaign_changed"]
    assert (campaign["bidder"], campaign["campaign_id"]) == ("house", "fixed")
    assert json.loads(campaign["before"]) == {"daily_budget_micros": 100_000_000, "enabled": True}
    assert json.loads(campaign["after"]) == {"daily_budget_micros": 120_500_000, "enabled": False}
    bidder = found["admin_bidder_changed"]
    assert (bidder["bidder"], bidder["before"], bidder["after"]) == ("acme-dsp", "1", "0")
    assert found["admin_models_reloaded"]["swapped"] == "1"


# --- every process sharing the store --------------------------------------------------------


def test_a_change_through_one_process_reaches_the_others(
    tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp
) -> None:
    """Two exchanges on one Redis (as ``--workers 2``, or two machines): a change through
    A's admin API is polled by B, and an exchange started afterwards begins with it."""
    with (
        running("redis", tmp_path, redis_url, key_prefix, dsp) as a,
        running("redis", tmp_path, redis_url, key_prefix, dsp, admin_sync_s=0.05) as b,
    ):
        assert change(a, "fixed", {"daily_budget": "75.25", "bid_cpm": "1.10"}).status_code == 200
        response = a.admin.patch("/admin/bidders/acme-dsp", json={"enabled": False})
        assert response.status_code == 200
        seen: dict[str, Any] = {}
        for _ in range(100):  # B's poll runs every 50 ms
            seen = b.admin.get("/admin/campaigns/fixed").json()
            if seen["daily_budget_micros"] == 75_250_000:
                break
            time.sleep(0.05)
        assert (seen["daily_budget_micros"], seen["bid_cpm_micros"]) == (75_250_000, 1_100_000)
        assert winner(b)["price"] == pytest.approx(1.10)
    with running("redis", tmp_path, redis_url, key_prefix, dsp) as restarted:
        assert restarted.admin.get("/admin/campaigns/fixed").json()["daily_budget"] == "75.25"
        bidders = {
            b["name"]: b["enabled"] for b in restarted.admin.get("/admin/bidders").json()["bidders"]
        }
        assert bidders["acme-dsp"] is False
        dropped = restarted.admin.delete("/admin/campaigns/fixed/override")
        assert (dropped.status_code, dropped.json()["daily_budget"]) == (200, "100.00")
        dropped = restarted.admin.delete("/admin/bidders/acme-dsp/override")
        assert (dropped.status_code, dropped.json()["enabled"]) == (200, True)
    with running("redis", tmp_path, redis_url, key_prefix, dsp) as fresh:  # the file's again
        assert fresh.admin.get("/admin/campaigns/fixed").json()["bid_cpm"] == "2.40"
        listed = fresh.admin.get("/admin/bidders").json()["bidders"]
        assert {b["name"]: b["enabled"] for b in listed}["acme-dsp"] is True


# --- the store down -----------------------------------------------------------------------


def test_the_state_of_a_campaign_is_503_while_the_store_is_down(
    tmp_path: Path, key_prefix: str, dsp: Dsp
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for("redis", tmp_path, dead, key_prefix, dsp.url)
    with serve(create_app(settings)) as url:
        response = httpx.get(
            f"{url}/admin/campaigns/fixed/state", headers={"authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 503
    assert response.json() == {
        "error": {"field": "store", "message": "counter store unavailable; retry later"}
    }


def test_a_change_is_503_and_changes_nothing_while_the_store_is_down(
    tmp_path: Path, key_prefix: str, dsp: Dsp
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for("redis", tmp_path, dead, key_prefix, dsp.url)
    headers = {"authorization": f"Bearer {TOKEN}"}
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, headers=headers) as admin:
        before = admin.get("/admin/campaigns/fixed").json()
        responses = [
            admin.patch("/admin/campaigns/fixed", json={"daily_budget": "1"}),
            admin.patch("/admin/bidders/acme-dsp", json={"enabled": False}),
            admin.delete("/admin/campaigns/fixed/override"),
            admin.delete("/admin/bidders/acme-dsp/override"),
            admin.post("/admin/profiles/segments", json={"user_id": "u", "add": {"vip": 1}}),
            admin.post("/admin/profiles/lookup", json={"user_id": "u"}),
        ]
        for response in responses:
            assert response.status_code == 503
            assert response.json() == {
                "error": {"field": "store", "message": "counter store unavailable; retry later"}
            }
        assert admin.get("/admin/campaigns/fixed").json() == before
        bidders = admin.get("/admin/bidders").json()["bidders"]
        assert all(bidder["enabled"] for bidder in bidders)
