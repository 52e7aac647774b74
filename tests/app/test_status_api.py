"""``/status`` and ``/info/bidders``: public facts over HTTP, nothing secret among them."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from exchange.metrics import build_version
from tests.app.test_admin_api import DSP_CREDENTIAL, TOKEN, Dsp, dsp, settings_for
from tests.servers import serve

__all__ = ["dsp"]  # the module-scoped DSP fixture, shared with the admin tests


@pytest.fixture
def client(tmp_path: Path, redis_url: str, key_prefix: str, dsp: Dsp) -> Iterator[httpx.Client]:
    settings = settings_for("memory", tmp_path, redis_url, key_prefix, dsp.url)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as http:
        yield http


def test_status_says_version_and_uptime(client: httpx.Client) -> None:
    first = client.get("/status")
    assert first.status_code == 200
    body = first.json()
    assert (body["status"], body["version"], body["openrtb"], body["store"]) == (
        "ok",
        build_version(),
        "2.6",
        "memory",
    )
    assert body["uptime_s"] >= 0
    assert client.get("/status").json()["uptime_s"] >= body["uptime_s"]


def test_the_bidders_are_listed_by_name(client: httpx.Client) -> None:
    assert client.get("/info/bidders").json() == {"bidders": ["acme-dsp", "house"]}


def test_an_in_process_router_says_what_its_campaigns_buy(client: httpx.Client) -> None:
    assert client.get("/info/bidders/house").json() == {
        "name": "house",
        "kind": "in-process",
        "enabled": True,
        "protocol": "in-process",
        "openrtb": "2.6",
        "media_types": ["banner"],
        "sizes": ["300x250", "728x90"],
        "seats": ["fixed", "valued"],
    }


def test_an_external_dsp_is_described_without_its_endpoint_or_credential(
    client: httpx.Client, dsp: Dsp
) -> None:
    response = client.get("/info/bidders/acme-dsp")
    assert response.json() == {
        "name": "acme-dsp",
        "kind": "external",
        "enabled": True,
        "protocol": "http1.1",
        "openrtb": "2.6",
        "media_types": ["banner"],
        "sizes": ["300x250"],
        "seats": ["acme"],
    }
    for secret in (dsp.url, DSP_CREDENTIAL, "dsp-credential"):
        assert secret not in response.text
    for path in ("/status", "/info/bidders"):
        assert dsp.url not in client.get(path).text


def test_a_disabled_bidder_says_so(client: httpx.Client) -> None:
    admin = {"authorization": f"Bearer {TOKEN}"}
    off = client.patch("/admin/bidders/acme-dsp", json={"enabled": False}, headers=admin)
    assert off.status_code == 200
    assert client.get("/info/bidders/acme-dsp").json()["enabled"] is False
    assert client.get("/info/bidders/house").json()["enabled"] is True


@pytest.mark.parametrize("name", ["nope", "HOUSE", "house%20", "acme-dsp.", "a" * 300])
def test_an_unknown_bidder_is_404_naming_it(client: httpx.Client, name: str) -> None:
    response = client.get(f"/info/bidders/{name}")
    assert response.status_code == 404
    shown = httpx.URL(f"/{name}").path[1:]  # as the server decodes it
    assert response.json() == {"error": {"field": "name", "message": f"no bidder {shown!r}"}}


def test_status_needs_no_credentials(client: httpx.Client) -> None:
    for path in ("/status", "/info/bidders", "/info/bidders/house"):
        assert client.get(path, headers={"authorization": "Bearer wrong"}).status_code == 200
