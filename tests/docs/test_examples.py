"""Every example in the OpenAPI document is what the server really says.

Each named example of an answer has a recipe here that makes the served exchange give it,
and the answer must equal the example byte for byte (parsed) — so an example cannot drift
from the handler it documents. The few that need a store outage, or a campaign with a
postback secret, are listed in ``ELSEWHERE`` with what they need; a new
example with neither fails ``test_every_example_has_a_recipe``. Every example also fits
its own schema, and every answer made here conforms to the document (schemathesis checks
each, as it does for generated requests).
"""

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema_rs
import orjson
import pytest
import schemathesis
from starlette.types import Message, Receive, Scope, Send

from app.admission import InFlightLimit
from app.main import create_app
from exchange.notice_token import ClickRef, NoticeClaim, NoticeKind, NoticeSigner
from exchange.settings import Settings
from tests.docs.conftest import ADMIN_TOKEN, RESPONSE_CHECKS, SECRET, documented_settings

DOCUMENT: dict[str, Any] = orjson.loads(orjson.dumps(create_app(documented_settings()).openapi()))
EXAMPLES_DIR = Path(__file__).parents[2] / "app" / "examples"
SIGNER = NoticeSigner(SECRET.encode())
Key = tuple[str, str, str, str]
"""(method, path, status, example name)."""


def documented_examples() -> dict[Key, Any]:
    """Every named example of every answer in the document."""
    found: dict[Key, Any] = {}
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                for media in response.get("content", {}).values():
                    for name, example in media.get("examples", {}).items():
                        found[(method.upper(), path, status, name)] = example["value"]
    return found


ELSEWHERE: dict[Key, str] = {
    ("GET", "/notices/win", "503", "store_down"): "needs the store down and the spool full",
    ("GET", "/notices/billing", "503", "store_down"): "needs the store down and the spool full",
    ("POST", "/track/conversion", "503", "store_down"): "needs the store down",
    ("GET", "/readyz", "503", "not_ready"): "status: tests/e2e/test_store_outage_e2e.py",
    ("POST", "/openrtb2/auction", "401", "no_key"): "tests/e2e/test_accounts_e2e.py",
    ("POST", "/openrtb2/auction", "401", "unknown_key"): "tests/e2e/test_accounts_e2e.py",
    ("POST", "/openrtb2/auction", "403", "account_disabled"): "status and field: "
    "tests/e2e/test_accounts_e2e.py",
    ("POST", "/openrtb2/auction", "403", "publisher_not_allowed"): "status and field: "
    "tests/e2e/test_accounts_e2e.py",
    ("POST", "/openrtb2/auction", "429", "account_rate"): "status, field and Retry-After: "
    "tests/e2e/test_accounts_e2e.py",
    ("POST", "/openrtb2/auction", "429", "address_rate"): "status and field: "
    "tests/exchange/test_accounts.py",
    ("POST", "/track/conversion", "403", "unsigned"): "status and field: "
    "tests/e2e/test_tracking_e2e.py (a campaign with a postback secret)",
    ("POST", "/track/conversion", "403", "bad_signature"): "status and field: "
    "tests/e2e/test_tracking_e2e.py (a campaign with a postback secret)",
    ("GET", "/admin/campaigns/{campaign_id}/state", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
    ("PATCH", "/admin/campaigns/{campaign_id}", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
    ("PATCH", "/admin/bidders/{name}", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
    ("DELETE", "/admin/campaigns/{campaign_id}/override", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
    ("DELETE", "/admin/bidders/{name}/override", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
    ("POST", "/admin/profiles/segments", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
    ("POST", "/admin/profiles/lookup", "503", "store_down"): "body: "
    "tests/app/test_admin_api.py (an exchange whose Redis does not answer)",
}
"""Examples whose answer needs a store outage, a campaign with a postback secret or SSP
accounts."""


@dataclass(frozen=True)
class Recipe:
    """A request that makes the server answer one documented example."""

    method: str
    path: str
    query: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""


def _token(**changes: Any) -> str:
    """A token the served exchange accepts as its own (same secret), with ``changes``."""
    now = int(time.time())
    claim = NoticeClaim(
        NoticeKind.IMPRESSION,
        "a-docs",
        "1",
        "b-1",
        "seat",
        "house",
        "no-such-campaign",
        "ad",
        1250,
        "USD",
        False,
        now,
        now + 3600,
        None,
    )
    return SIGNER.sign(claim._replace(**changes))


def _conversion(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def _click(clicked_at_s: int | None = None) -> dict[str, str]:
    """A click id and tag of this exchange, for a campaign it does not know (default rules:
    one conversion per click, at most 10,000, within 30 days)."""
    at = int(time.time()) if clicked_at_s is None else clicked_at_s
    click_id, tag = SIGNER.click_id(ClickRef("house", "gone", f"imp-{time.time_ns()}", at))
    return {"click": click_id, "sig": tag}


_JSON = {"content-type": "application/json"}
_BIG = b"[" + b"0," * 40_000 + b"0]"
_NO_MEDIA = {"id": "r", "imp": [{"id": "1"}]}
_BANNER = {"id": "1", "banner": {"w": 300, "h": 250}}
_FORGED_TOKEN = {
    "bad_signature": {
        "t": _token().rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    },
    "malformed": {"t": "not-a-token"},
    "expired": {"t": _token(issued_at_s=1, expires_at_s=2)},
}
RECIPES: dict[Key, Recipe] = {
    ("POST", "/openrtb2/auction", "400", "no_imp"): Recipe(
        "POST", "/openrtb2/auction", headers=_JSON, body=b'{"id": "r", "imp": []}'
    ),
    ("POST", "/openrtb2/auction", "400", "duplicate_imp"): Recipe(
        "POST",
        "/openrtb2/auction",
        headers=_JSON,
        body=orjson.dumps({"id": "r", "imp": [_BANNER, _BANNER]}),
    ),
    ("POST", "/openrtb2/auction", "400", "no_media"): Recipe(
        "POST", "/openrtb2/auction", headers=_JSON, body=orjson.dumps(_NO_MEDIA)
    ),
    ("POST", "/openrtb2/auction", "400", "not_json"): Recipe(
        "POST", "/openrtb2/auction", headers=_JSON
    ),
    ("POST", "/openrtb2/auction", "413", "too_large"): Recipe(
        "POST", "/openrtb2/auction", headers=_JSON, body=_BIG
    ),
    ("POST", "/openrtb2/auction", "415", "content_type"): Recipe(
        "POST", "/openrtb2/auction", headers={"content-type": "text/plain"}, body=b"{}"
    ),
    ("POST", "/openrtb2/auction", "415", "content_encoding"): Recipe(
        "POST", "/openrtb2/auction", headers={**_JSON, "content-encoding": "br"}, body=b"{}"
    ),
    **{
        ("GET", path, "400", "missing"): Recipe("GET", path)
        for path in ("/notices/win", "/notices/billing", "/track/click")
    },
    **{
        ("GET", path, "403", name): Recipe("GET", path, query=query)
        for path in ("/notices/win", "/notices/billing", "/track/click")
        for name, query in _FORGED_TOKEN.items()
    },
    ("GET", "/track/click", "403", "no_redirect"): Recipe(
        "GET", "/track/click", query={"t": _token()}
    ),
    ("POST", "/track/conversion", "400", "missing_field"): Recipe(
        "POST",
        "/track/conversion",
        headers=_JSON,
        body=_conversion(sig="s", conversion_id="c"),
    ),
    ("POST", "/track/conversion", "400", "currency"): Recipe(
        "POST",
        "/track/conversion",
        headers=_JSON,
        body=_conversion(click="c", sig="s", conversion_id="c", currency="ABC"),
    ),
    ("POST", "/track/conversion", "400", "not_json"): Recipe(
        "POST", "/track/conversion", headers=_JSON
    ),
    ("POST", "/track/conversion", "400", "value_cap"): Recipe(
        "POST",
        "/track/conversion",
        headers=_JSON,
        body=_conversion(**_click(), conversion_id="c", value=20_000),
    ),
    ("POST", "/track/conversion", "403", "forged_click"): Recipe(
        "POST",
        "/track/conversion",
        headers=_JSON,
        body=_conversion(click="c", sig="s", conversion_id="c"),
    ),
    ("POST", "/track/conversion", "409", "window"): Recipe(
        "POST",
        "/track/conversion",
        headers=_JSON,
        body=_conversion(**_click(clicked_at_s=int(time.time()) - 31 * 86_400), conversion_id="c"),
    ),
    ("POST", "/track/conversion", "413", "too_large"): Recipe(
        "POST", "/track/conversion", headers=_JSON, body=_BIG
    ),
    ("POST", "/track/conversion", "415", "content_type"): Recipe(
        "POST", "/track/conversion", headers={"content-type": "text/plain"}, body=b"{}"
    ),
}
_ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
_ADMIN_JSON = {**_ADMIN, **_JSON}
_ADMIN_OPERATIONS = [
    ("GET", "/admin/campaigns", "/admin/campaigns"),
    ("GET", "/admin/campaigns/{campaign_id}", "/admin/campaigns/acme-shoes-spring"),
    ("PATCH", "/admin/campaigns/{campaign_id}", "/admin/campaigns/acme-shoes-spring"),
    ("GET", "/admin/campaigns/{campaign_id}/state", "/admin/campaigns/acme-shoes-spring/state"),
    ("GET", "/admin/bidders", "/admin/bidders"),
    ("PATCH", "/admin/bidders/{name}", "/admin/bidders/house"),
    ("POST", "/admin/models/reload", "/admin/models/reload"),
    (
        "DELETE",
        "/admin/campaigns/{campaign_id}/override",
        "/admin/campaigns/acme-shoes-spring/override",
    ),
    ("DELETE", "/admin/bidders/{name}/override", "/admin/bidders/house/override"),
    ("POST", "/admin/profiles/segments", "/admin/profiles/segments"),
    ("POST", "/admin/profiles/lookup", "/admin/profiles/lookup"),
]
_PROFILES = ("/admin/profiles/segments", "/admin/profiles/lookup")
_CAMPAIGN = "/admin/campaigns/{campaign_id}"
_BIDDER = "/admin/bidders/{name}"


def _patch(path: str, body: bytes, headers: dict[str, str] = _ADMIN_JSON) -> Recipe:
    return Recipe("PATCH", path, headers=headers, body=body)


RECIPES.update(
    {
        **{
            (method, path, "401", name): Recipe(method, sent, headers=headers)
            for method, path, sent in _ADMIN_OPERATIONS
            for name, headers in [
                ("missing", {}),
                ("invalid", {"authorization": "Bearer not-the-admin-token"}),
            ]
        },
        **{
            (method, path, "404", "unknown"): Recipe(
                method,
                sent.replace("acme-shoes-spring", "nope"),
                headers=_ADMIN_JSON,
                body=b'{"enabled": false}',
            )
            for method, path, sent in _ADMIN_OPERATIONS
            if "{campaign_id}" in path
        },
        ("PATCH", _BIDDER, "404", "unknown"): _patch("/admin/bidders/nope", b'{"enabled": 1}'),
        ("DELETE", _BIDDER + "/override", "404", "unknown"): Recipe(
            "DELETE", "/admin/bidders/nope/override", headers=_ADMIN
        ),
        ("GET", "/info/bidders/{name}", "404", "unknown"): Recipe("GET", "/info/bidders/nope"),
        **{
            ("PATCH", path, "400", "not_json"): _patch(sent, b"")
            for path, sent in [
                (_CAMPAIGN, "/admin/campaigns/acme-shoes-spring"),
                (_BIDDER, "/admin/bidders/house"),
            ]
        },
        **{
            ("PATCH", path, "413", "too_large"): _patch(sent, _BIG)
            for path, sent in [
                (_CAMPAIGN, "/admin/campaigns/acme-shoes-spring"),
                (_BIDDER, "/admin/bidders/house"),
            ]
        },
        **{
            ("PATCH", path, "415", "content_type"): _patch(
                sent, b"{}", {**_ADMIN, "content-type": "text/plain"}
            )
            for path, sent in [
                (_CAMPAIGN, "/admin/campaigns/acme-shoes-spring"),
                (_BIDDER, "/admin/bidders/house"),
            ]
        },
        **{
            ("PATCH", _CAMPAIGN, "422", name): _patch(
                "/admin/campaigns/acme-shoes-spring", orjson.dumps(body)
            )
            for name, body in [
                ("sub_micro", {"daily_budget": "250.0000001"}),
                ("negative", {"daily_budget": "-250"}),
                ("unknown_field", {"budget": "250"}),
                ("wrong_type", {"enabled": "yes"}),
                ("wrong_mode", {"target_cpc": "0.80"}),
                ("nothing", {}),
            ]
        },
        **{
            ("POST", path, status, name): Recipe("POST", path, headers=headers, body=body)
            for path in _PROFILES
            for status, name, headers, body in [
                ("400", "not_json", _ADMIN_JSON, b""),
                ("413", "too_large", _ADMIN_JSON, _BIG),
                ("415", "content_type", {**_ADMIN, "content-type": "text/plain"}, b"{}"),
            ]
        },
        ("POST", _PROFILES[1], "422", "missing"): Recipe(
            "POST", _PROFILES[1], headers=_ADMIN_JSON, body=b"{}"
        ),
        ("POST", _PROFILES[0], "422", "nothing"): Recipe(
            "POST", _PROFILES[0], headers=_ADMIN_JSON, body=b'{"user_id": "u"}'
        ),
        ("POST", _PROFILES[0], "422", "days"): Recipe(
            "POST",
            _PROFILES[0],
            headers=_ADMIN_JSON,
            body=b'{"user_id": "u", "add": {"auto-intender": 31}}',
        ),
        ("PATCH", _BIDDER, "422", "missing"): _patch("/admin/bidders/house", b"{}"),
        ("PATCH", _BIDDER, "422", "wrong_type"): _patch(
            "/admin/bidders/house", b'{"enabled": "off"}'
        ),
    }
)
"""One request per example; the 409 ``limit`` example and the overload 503s have tests
of their own below (they take two requests, or a full server)."""

OVERLOADED = sorted(
    (method, path)
    for method, path, status, name in documented_examples()
    if (status, name) == ("503", "overloaded")
)
"""Every operation the admission middleware answers 503 when it is full."""
OWN_TESTS = {
    ("POST", "/track/conversion", "409", "limit"),
    *((method, path, "503", "overloaded") for method, path in OVERLOADED),
}


def _validate(response: httpx.Response, method: str, path: str) -> None:
    """schemathesis' conformance checks on an answer to a hand-made request."""
    sent = response.request.url.path.split("/")
    parameters = {
        part[1:-1]: value
        for part, value in zip(path.split("/"), sent, strict=True)
        if part.startswith("{")
    }
    operation = schemathesis.openapi.from_dict(DOCUMENT)[path][method]
    case = operation.Case(path_parameters=parameters or None)
    case.validate_response(response, checks=RESPONSE_CHECKS)


def _send(client: httpx.Client, recipe: Recipe) -> httpx.Response:
    return client.request(
        recipe.method,
        recipe.path,
        params=recipe.query,
        headers=recipe.headers,
        content=recipe.body,
    )


@pytest.fixture(scope="module")
def client(docs_server: str) -> Any:
    with httpx.Client(base_url=docs_server, timeout=10) as http:
        yield http


def test_every_example_has_a_recipe() -> None:
    documented = set(documented_examples())
    assert documented == set(RECIPES) | set(ELSEWHERE) | OWN_TESTS


@pytest.mark.parametrize("key", sorted(RECIPES), ids=" ".join)
def test_the_server_says_what_the_example_says(key: Key, client: httpx.Client) -> None:
    method, path, status, _ = key
    response = _send(client, RECIPES[key])
    assert response.status_code == int(status)
    assert response.json() == documented_examples()[key]
    _validate(response, method, path)


def test_the_second_conversion_of_a_click_is_the_limit_example(client: httpx.Client) -> None:
    click = _click()
    first = client.post("/track/conversion", content=_conversion(**click, conversion_id="1"))
    again = client.post("/track/conversion", content=_conversion(**click, conversion_id="1"))
    second = client.post("/track/conversion", content=_conversion(**click, conversion_id="2"))
    assert [first.json(), again.json()] == [{"result": "recorded"}, {"result": "duplicate"}]
    assert second.status_code == 409
    assert second.json() == documented_examples()[("POST", "/track/conversion", "409", "limit")]
    for response in (first, again, second):
        _validate(response, "POST", "/track/conversion")


@pytest.mark.parametrize(("method", "path"), OVERLOADED)
async def test_an_overloaded_exchange_says_what_the_example_says(method: str, path: str) -> None:
    """The admission middleware as ``create_app`` installs it, with the default limits and
    every slot taken: its 503 is the documented one."""
    defaults = Settings()
    sent: list[Message] = []

    async def unreachable(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("admitted past the limit")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    limit = InFlightLimit(unreachable, defaults.max_in_flight, defaults.retry_after_s)
    limit.requests.in_flight = defaults.max_in_flight
    await limit({"type": "http", "path": path, "method": method, "state": {}}, receive, send)
    start, body = sent
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"retry-after"] == str(defaults.retry_after_s).encode()
    assert orjson.loads(body["body"]) == documented_examples()[(method, path, "503", "overloaded")]


def _bid_urls(client: httpx.Client) -> tuple[str, str]:
    body = (EXAMPLES_DIR / "request_simple_banner.json").read_bytes()
    response = client.post("/openrtb2/auction", content=body, headers=_JSON)
    assert response.status_code == 200, response.text
    assert response.headers["x-openrtb-version"] == "2.6"
    _validate(response, "POST", "/openrtb2/auction")
    bid = response.json()["seatbid"][0]["bid"][0]
    return bid["nurl"], bid["burl"]


def test_a_won_bid_and_its_notices_answer_as_documented(client: httpx.Client) -> None:
    nurl, burl = _bid_urls(client)
    answers = [client.get(url) for url in (nurl, burl, nurl)]
    assert [(a.status_code, a.headers["x-notice-result"]) for a in answers] == [
        (204, "recorded"),
        (204, "recorded"),  # its own event; the impression is charged once, by the first
        (204, "duplicate"),
    ]
    for answer, path in zip(
        answers, ["/notices/win", "/notices/billing", "/notices/win"], strict=True
    ):
        _validate(answer, "GET", path)


def test_a_gzipped_bid_request_is_answered_like_a_plain_one(client: httpx.Client) -> None:
    body = gzip.compress((EXAMPLES_DIR / "request_simple_banner.json").read_bytes())
    response = client.post(
        "/openrtb2/auction", content=body, headers={**_JSON, "content-encoding": "gzip"}
    )
    assert response.status_code == 200
    _validate(response, "POST", "/openrtb2/auction")


def test_a_click_redirects_to_the_landing_page_as_documented(client: httpx.Client) -> None:
    landing = "https://shoes.example/landing?from=ad"
    response = client.get("/track/click", params={"t": _token(landing_url=landing)})
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location._replace(query="").geturl() == "https://shoes.example/landing"
    assert set(parse_qs(location.query)) == {"from", "rtb_click", "rtb_sig"}
    _validate(response, "GET", "/track/click")
    no_landing = client.get("/track/click", params={"t": _token(kind=NoticeKind.CLICK)})
    assert no_landing.status_code == 204
    _validate(no_landing, "GET", "/track/click")


def test_an_undeclared_method_is_405_naming_the_allowed_ones(client: httpx.Client) -> None:
    for path, methods in DOCUMENT["paths"].items():
        response = client.request("PUT" if "delete" in methods else "DELETE", path)
        assert response.status_code == 405, path
        assert set(response.headers["allow"].split(", ")) == {m.upper() for m in methods}
        assert response.json() == {"error": {"field": "request", "message": "Method Not Allowed"}}


def _validators() -> list[tuple[str, Any, Callable[[Any], None]]]:
    found = []
    components = {"components": DOCUMENT["components"]}
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            media_types = [
                (f"{method} {path} {status}", media)
                for status, response in operation["responses"].items()
                for media in response.get("content", {}).values()
            ]
            for media in operation.get("requestBody", {}).get("content", {}).values():
                media_types.append((f"{method} {path} request", media))
            for where, media in media_types:
                validator = jsonschema_rs.validator_for({**media["schema"], **components})
                values = [e["value"] for e in media.get("examples", {}).values()]
                if "example" in media:
                    values.append(media["example"])
                found += [(where, value, validator.validate) for value in values]
    return found


def test_every_example_fits_its_schema() -> None:
    checked = _validators()
    assert len(checked) > 30
    for where, value, validate in checked:
        try:
            validate(value)
        except jsonschema_rs.ValidationError as exc:
            pytest.fail(f"{where}: {exc}")


def test_the_metrics_example_is_in_the_exposition(client: httpx.Client) -> None:
    client.post("/openrtb2/auction", content=b"", headers=_JSON)  # counts one
    media = DOCUMENT["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"]
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    lines = set(response.text.splitlines())
    for line in media["example"].splitlines():
        assert line.startswith("#") is False or line in lines, line
    _validate(response, "GET", "/metrics")
