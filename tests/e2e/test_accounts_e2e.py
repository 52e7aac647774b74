"""SSP accounts over HTTP: a bid request needs a known key (401 without), an enabled account
(403), a publisher the account sells (403) and room in its rate (429 with Retry-After);
refused requests reach no bidder and move no money; notice URLs stay keyless; an account's
floors and debug permission are its own."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from exchange.accounts import key_digest
from exchange.settings import Settings
from tests.servers import serve

EXAMPLES = Path(__file__).resolve().parents[2] / "app" / "examples"
AUCTION = "/openrtb2/auction"
NAMES = ("plain", "bearer", "off", "pubs", "slow", "dear", "debug", "lenient", "kids", "dedup")
KEYS = {name: f"rtbk_e2e-{name}-0123456789abcdefghijklmnopqrstuv" for name in NAMES}


def _accounts() -> dict[str, Any]:
    def account(name: str, **changes: Any) -> dict[str, Any]:
        return {"id": f"ssp-{name}", "key_digests": [key_digest(KEYS[name])], **changes}

    return {
        "accounts": [
            account("plain"),
            account("bearer"),
            account("off", enabled=False),
            account("pubs", publishers=["8953"]),
            account("slow", rate_limit_qps=1),
            account("dear", floor_rules=[{"floor_cpm": "900"}]),
            account("debug", debug=True),
            account("lenient", debug=True, screening={"datacenter": "flag"}),
            account("kids", debug=True, privacy={"coppa": True}),
            account("dedup", dedup_window_s=30),
        ]
    }


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    path = tmp_path_factory.mktemp("accounts") / "accounts.json"
    path.write_text(json.dumps(_accounts()))
    settings = Settings(
        store="memory",
        router_seed=7,
        currency_rates_refresh_s=0,
        accounts_file=path,
        rate_limit_window_s=10,
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as http:
        yield http


def _banner(**changes: object) -> dict[str, object]:
    request: dict[str, object] = json.loads((EXAMPLES / "request_simple_banner.json").read_text())
    request.update(changes)
    return request


def _as(name: str) -> dict[str, str]:
    return {"x-api-key": KEYS[name]}


def _metric(client: httpx.Client, name: str) -> float:
    """The sum of every series whose name (with any labels given) starts with ``name``."""
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_request_without_a_known_key_is_401_and_reaches_no_bidder(
    client: httpx.Client,
) -> None:
    auctions = _metric(client, 'rtb_auction_requests_total{outcome="bid"}')
    missing = client.post(AUCTION, json=_banner())
    assert missing.status_code == 401
    assert missing.json()["error"]["field"] == "x-api-key"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    junk_body = client.post(AUCTION, content=b"{junk", headers={"content-type": "application/json"})
    assert junk_body.status_code == 401  # the key is looked at before the body is read
    wrong = client.post(AUCTION, json=_banner(), headers={"x-api-key": "rtbk_guess"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "unknown API key"
    assert _metric(client, 'rtb_auction_requests_total{outcome="bid"}') == auctions
    assert _metric(client, 'rtb_auction_refused_total{reason="no_key"}') >= 2
    assert _metric(client, 'rtb_auction_refused_total{reason="unknown_key"}') >= 1


def test_the_401s_are_the_documented_examples(client: httpx.Client) -> None:
    documented = create_app(Settings()).openapi()["paths"][AUCTION]["post"]["responses"]["401"]
    examples = documented["content"]["application/json"]["examples"]
    assert client.post(AUCTION, json=_banner()).json() == examples["no_key"]["value"]
    wrong = client.post(AUCTION, json=_banner(), headers={"authorization": "Bearer rtbk_no"})
    assert wrong.json() == examples["unknown_key"]["value"]


def test_a_known_key_in_either_header_runs_the_auction(client: httpx.Client) -> None:
    plain = client.post(AUCTION, json=_banner(id="plain"), headers=_as("plain"))
    assert plain.status_code == 200
    assert plain.json()["seatbid"][0]["bid"]
    bearer = client.post(
        AUCTION, json=_banner(id="bearer"), headers={"authorization": f"Bearer {KEYS['bearer']}"}
    )
    assert bearer.status_code == 200


def test_a_disabled_account_and_a_publisher_it_does_not_sell_are_403(
    client: httpx.Client,
) -> None:
    off = client.post(AUCTION, json=_banner(), headers=_as("off"))
    assert off.status_code == 403
    assert off.json()["error"] == {"field": "x-api-key", "message": "account ssp-off is disabled"}
    allowed = client.post(AUCTION, json=_banner(id="pub-ok"), headers=_as("pubs"))
    assert allowed.status_code == 200
    other = _banner(id="pub-no")
    other["site"] = {"id": "s", "publisher": {"id": "77"}}
    refused = client.post(AUCTION, json=other, headers=_as("pubs"))
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "site.publisher.id"


def test_an_account_over_its_rate_gets_429_with_retry_after(client: httpx.Client) -> None:
    """1 request a second over a 10 s window: about 10 get through, the rest wait."""
    statuses = [
        client.post(AUCTION, json=_banner(id=f"slow-{n}"), headers=_as("slow")).status_code
        for n in range(16)
    ]
    assert statuses[0] == 200
    assert 9 <= statuses.count(200) <= 11
    assert statuses[-1] == 429
    limited = client.post(AUCTION, json=_banner(), headers=_as("slow"))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "10"
    assert limited.json()["error"]["field"] == "account"
    assert client.post(AUCTION, json=_banner(), headers=_as("plain")).status_code == 200


def test_notice_urls_need_no_key(client: httpx.Client) -> None:
    answer = client.post(AUCTION, json=_banner(id="notice"), headers=_as("plain"))
    bid = answer.json()["seatbid"][0]["bid"][0]
    charged = _metric(client, "rtb_charged_micros_total")
    assert client.get(bid["nurl"]).status_code == 204
    assert _metric(client, "rtb_charged_micros_total") > charged


def test_an_accounts_floors_apply_to_its_requests_only(client: httpx.Client) -> None:
    assert client.post(AUCTION, json=_banner(id="dear"), headers=_as("dear")).status_code == 204
    assert client.post(AUCTION, json=_banner(id="cheap"), headers=_as("plain")).status_code == 200


def test_debug_output_is_an_accounts_permission(client: httpx.Client) -> None:
    ask = _banner(id="debug", test=1)
    with_debug = client.post(AUCTION, json=ask, headers=_as("debug"))
    assert "debug" in with_debug.json()["ext"]
    without = client.post(AUCTION, json=ask, headers=_as("plain"))
    assert "debug" not in (without.json().get("ext") or {})


def test_an_accounts_screening_actions_are_its_own(client: httpx.Client) -> None:
    """A data-centre address is blocked by the exchange's default and only flagged for an
    SSP whose account says so (its bidders then see the finding)."""
    request = _banner(id="cloud", test=1, device={"ip": "159.203.44.12", "ua": "Mozilla/5.0"})
    blocked = client.post(AUCTION, json=request, headers=_as("debug"))
    assert blocked.status_code == 200  # the debug answer of a no-bid
    assert blocked.json()["nbr"] == 5
    flagged = client.post(AUCTION, json=request, headers=_as("lenient"))
    screening = flagged.json()["ext"]["debug"]["screening"]
    assert screening["blocked"] is None
    assert "datacenter" in [f["check"] for f in screening["flags"]]


def test_the_same_impression_by_a_path_no_shorter_is_204_for_an_account_that_opts_in(
    client: httpx.Client,
) -> None:
    node = {"asi": "pub.example", "sid": "8953", "hp": 1}
    chain = {"complete": 1, "ver": "1.0", "nodes": [node, {**node, "asi": "resell.example"}]}
    resold = _banner(source={"tid": "e2e-dedup-tid", "schain": chain})
    direct = _banner(source={"tid": "e2e-dedup-tid", "schain": {**chain, "nodes": [node]}})
    before = _metric(client, 'rtb_nobids_total{reason="duplicate_path"}')
    assert client.post(AUCTION, json=resold, headers=_as("dedup")).status_code == 200
    assert client.post(AUCTION, json=resold, headers=_as("dedup")).status_code == 204
    assert client.post(AUCTION, json=direct, headers=_as("dedup")).status_code == 200
    assert client.post(AUCTION, json=resold, headers=_as("plain")).status_code == 200
    assert _metric(client, 'rtb_nobids_total{reason="duplicate_path"}') == before + 1


def test_keys_never_reach_the_log(client: httpx.Client, capfd: pytest.CaptureFixture[str]) -> None:
    guess = "rtbk_a-guessed-key-that-must-not-be-logged-0123456789"
    assert client.post(AUCTION, json=_banner(), headers={"x-api-key": guess}).status_code == 401
    other = _banner(id="pub-no-log")
    other["site"] = {"id": "s", "publisher": {"id": "77"}}
    assert client.post(AUCTION, json=other, headers=_as("pubs")).status_code == 403
    logged = capfd.readouterr()
    text = logged.out + logged.err
    assert "request_rejected" in text
    assert guess not in text
    assert KEYS["pubs"] not in text


def test_the_client_address_rate_applies_in_open_mode_too() -> None:
    settings = Settings(
        store="memory",
        currency_rates_refresh_s=0,
        rate_limit_per_ip_qps=1,
        rate_limit_window_s=5,
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as http:
        statuses = [http.post(AUCTION, json=_banner(id=f"ip-{n}")).status_code for n in range(9)]
        limited = http.post(AUCTION, json=_banner())
        refused = _metric(http, 'rtb_auction_refused_total{reason="rate_limited_ip"}')
    assert statuses[0] == 200
    assert 4 <= statuses.count(200) <= 6  # 5 in the window, give or take its slide
    assert limited.status_code == 429
    assert limited.json()["error"]["field"] == "client"
    assert limited.headers["retry-after"] == "5"
    assert refused >= 4
