"""Whole-server fixtures: the exchange served by uvicorn on a free port, against real Redis,
and a recorder that plays the DSP's notice endpoint."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from app.main import create_app
from exchange.settings import Settings
from tests.redis_process import REDIS_SERVER, RedisProcess
from tests.servers import free_port, serve

SECRET = "e2e-notice-secret-0123456789-abcdef"


@dataclass
class Recorder:
    """Remembers every URL a DSP notice endpoint was called with."""

    base_url: str = ""
    calls: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    record = Recorder()
    app = FastAPI()

    @app.get("/{path:path}")
    async def notice(request: Request) -> Response:
        record.calls.append(str(request.url))
        return Response(status_code=200)

    with serve(app) as url:
        record.base_url = url
        yield record


def campaigns_file(directory: Path, dsp_url: str) -> Path:
    """Two campaigns competing for 300x250; the winner's DSP wants its own notices."""

    def creative(cid: str) -> dict[str, object]:
        return {
            "id": f"{cid}-300x250",
            "w": 300,
            "h": 250,
            "adomain": [f"{cid}.example"],
            "adm": f'<img src="https://{cid}.example/i.png?p=${{AUCTION_PRICE}}">',
        }

    spec = {
        "routers": [
            {
                "name": "house",
                "campaigns": [
                    {
                        "id": "winner",
                        "advertiser": "Winner Inc",
                        "seat": "winner",
                        "bid_cpm": "2.40",
                        "daily_budget": "100",
                        "creatives": [creative("winner")],
                        "nurl": f"{dsp_url}/win?auction=${{AUCTION_ID}}&price=${{AUCTION_PRICE}}",
                        "burl": f"{dsp_url}/bill?auction=${{AUCTION_ID}}&price=${{AUCTION_PRICE}}",
                    },
                    {
                        "id": "runner-up",
                        "advertiser": "Runner Up",
                        "seat": "runnerup",
                        "bid_cpm": "1.90",
                        "daily_budget": "100",
                        "creatives": [creative("runner-up")],
                        "lurl": f"{dsp_url}/loss?auction=${{AUCTION_ID}}"
                        "&reason=${AUCTION_LOSS}&min=${AUCTION_MIN_TO_WIN}",
                    },
                ],
            }
        ]
    }
    path = directory / "campaigns.json"
    path.write_bytes(orjson.dumps(spec))
    return path


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own that persists (AOF), for tests that kill it."""
    if REDIS_SERVER is None:
        pytest.skip("needs the redis-server binary to kill and restart a Redis of its own")
    server = RedisProcess(REDIS_SERVER, free_port(), data_dir=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Exchange:
    url: str
    key_prefix: str
    client: httpx.Client


@pytest.fixture
def exchange(
    tmp_path: Path, redis_url: str, key_prefix: str, recorder: Recorder
) -> Iterator[Exchange]:
    settings = Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        redis_timeout_s=1.0,
        key_prefix=key_prefix,
        bidders_file=campaigns_file(tmp_path, recorder.base_url),
        notice_secret=SECRET,  # type: ignore[arg-type]
        currency_rates={"EUR": Decimal("1.08"), "GBP": Decimal("1.27")},
        log_json=True,
        debug_allowed=True,
        forward_allow_private=True,  # the DSP's notice recorder listens on loopback
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield Exchange(url, key_prefix, client)
