"""Realistic OpenRTB 2.6 payloads for tests, as plain dicts (one place, not copied JSON).

Every call returns a fresh, deep structure that tests may mutate freely::

    from tests.builders import banner_request, banner_imp, bid_response

    body = orjson.dumps(banner_request(imps=3, tmax=80))
"""

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from exchange.settings import Settings

__all__ = ["banner_imp", "banner_request", "bid_response"]

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def banner_imp(imp_id: str = "1", **overrides: Any) -> dict[str, Any]:
    """A 300x250 banner impression (with 300x250 and 300x600 formats) floored at 0.50 USD."""
    imp: dict[str, Any] = {
        "id": imp_id,
        "tagid": f"homepage-mpu-{imp_id}",
        "secure": 1,
        "bidfloor": 0.5,
        "bidfloorcur": "USD",
        "banner": {
            "w": 300,
            "h": 250,
            "format": [{"w": 300, "h": 250}, {"w": 300, "h": 600}],
            "pos": 1,
            "battr": [13, 14],
            "api": [3, 5],
        },
        "metric": [{"type": "viewability", "value": 0.72, "vendor": "EXCHANGE"}],
    }
    imp.update(overrides)
    return imp


def banner_request(*, imps: int = 1, **overrides: Any) -> dict[str, Any]:
    """A web banner bid request; ``imps`` impressions with ids "1".."n".

    ``overrides`` replace top-level fields (``tmax=80``, ``regs={...}``); to drop a field,
    ``del`` it from the returned dict.
    """
    request: dict[str, Any] = {
        "id": "req-6f1c2a9e-banner",
        "imp": [banner_imp(str(n)) for n in range(1, imps + 1)],
        "site": {
            "id": "site-1029",
            "name": "Daily Example News",
            "domain": "news.example.com",
            "cat": ["IAB12"],
            "page": "https://news.example.com/world/story-123.html",
            "ref": "https://www.example.org/search?q=news",
            "publisher": {"id": "pub-8953", "name": "Example Media", "domain": "example.com"},
        },
        "device": {
            "ua": USER_AGENT,
            "ip": "203.0.113.17",
            "devicetype": 2,
            "make": "Generic",
            "os": "Windows",
            "osv": "10",
            "language": "en",
            "js": 1,
            "dnt": 0,
            "connectiontype": 2,
            "geo": {
                "country": "USA",
                "region": "NY",
                "city": "New York",
                "zip": "10001",
                "type": 2,
                "utcoffset": -300,
            },
        },
        "user": {
            "id": "u-55816b39711f9b5a",
            "buyeruid": "dsp-545678765467876567",
            "eids": [{"source": "id.example.org", "uids": [{"id": "ex-id-7f3a", "atype": 1}]}],
        },
        "at": 2,
        "tmax": 120,
        "cur": ["USD"],
        "bcat": ["IAB25", "IAB26"],
        "badv": ["blocked.example"],
        "source": {
            "tid": "tid-2c7e9b1d",
            "schain": {
                "complete": 1,
                "ver": "1.0",
                "nodes": [{"asi": "ssp.example", "sid": "pub-8953", "hp": 1, "rid": "req-up-1"}],
            },
        },
        "regs": {"coppa": 0, "gdpr": 0, "us_privacy": "1YNN"},
    }
    request.update(overrides)
    return request


def bid_response(
    request_id: str = "req-6f1c2a9e-banner",
    *,
    imp_id: str = "1",
    price: float = 1.25,
    **overrides: Any,
) -> dict[str, Any]:
    """A DSP's answer with one banner bid, win/billing notice URLs carrying macros."""
    response: dict[str, Any] = {
        "id": request_id,
        "bidid": "resp-91b3",
        "cur": "USD",
        "seatbid": [
            {
                "seat": "seat-42",
                "bid": [
                    {
                        "id": "bid-1",
                        "impid": imp_id,
                        "price": price,
                        "adid": "ad-314",
                        "crid": "creative-314",
                        "cid": "campaign-27",
                        "adomain": ["advertiser.example"],
                        "adm": '<a href="https://advertiser.example/"><img src="https://cdn.advertiser.example/300x250.png"></a>',
                        "nurl": "https://dsp.example/win?id=${AUCTION_ID}&p=${AUCTION_PRICE}",
                        "burl": "https://dsp.example/bill?id=${AUCTION_ID}&p=${AUCTION_PRICE}",
                        "w": 300,
                        "h": 250,
                        "mtype": 1,
                    }
                ],
            }
        ],
    }
    response.update(overrides)
    return response


def click_tracked_bidders_file(
    directory: Path, landing_url: str, conversions: dict[str, Any] | None = None
) -> Path:
    """A bidders file with one router and one 2.00 CPM campaign whose 300x250 creative puts
    the exchange's click-tracking macro in its markup and lands on ``landing_url``
    (``conversions``: the campaign's conversion rules, default when None)."""
    campaign: dict[str, Any] = {
        "id": "clicky",
        "advertiser": "Clicky",
        "seat": "clicky",
        "bid_cpm": "2.00",
        "daily_budget": "100",
        "creatives": [
            {
                "id": "cr",
                "w": 300,
                "h": 250,
                "adomain": ["shop.example"],
                "landing_url": landing_url,
                "adm": '<a href="${RTB_CLICK_URL}"><img src="https://shop.example/i.png"></a>',
            }
        ],
    }
    if conversions is not None:
        campaign["conversions"] = conversions
    path = directory / "bidders.json"
    path.write_bytes(orjson.dumps({"routers": [{"name": "house", "campaigns": [campaign]}]}))
    return path


CLICK_SECRET = "click-tracking-test-secret-0123456789abcdef"


def click_tracked_settings(
    directory: Path,
    landing_url: str,
    redis_url: str,
    key_prefix: str,
    conversions: dict[str, Any] | None = None,
) -> "Settings":
    """Exchange settings on the real Redis serving ``click_tracked_bidders_file``."""
    from exchange.settings import Settings

    return Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        key_prefix=key_prefix,
        bidders_file=click_tracked_bidders_file(directory, landing_url, conversions),
        notice_secret=CLICK_SECRET,  # type: ignore[arg-type]
        currency_rates={"EUR": Decimal("1.08")},
        log_json=True,
    )


def _creative(cid: str, w: int, h: int) -> dict[str, Any]:
    return {
        "id": f"{cid}-{w}x{h}",
        "w": w,
        "h": h,
        "adomain": [f"{cid}.example"],
        "adm": f'<img src="https://{cid}.example/i.png">',
    }


def fixed_and_valued_router() -> dict[str, Any]:
    """The in-process router ``house`` of a bidders file: a fixed-price campaign on 300x250
    and a value-based (ROI) one on 728x90 (the admin API's tests change both)."""
    router: dict[str, Any] = {
        "name": "house",
        "campaigns": [
            {
                "id": "fixed",
                "advertiser": "Fixed Inc",
                "seat": "fixed",
                "bid_cpm": "2.40",
                "daily_budget": "100",
                "creatives": [_creative("fixed", 300, 250)],
            },
            {
                "id": "valued",
                "advertiser": "Valued Ltd",
                "seat": "valued",
                "daily_budget": "50",
                "goal": {"type": "roi", "conversion_value": "60", "target_roi": "4"},
                "min_bid": "0.10",
                "max_bid": "6",
                "historical_ctr": 0.01,
                "historical_cvr": 0.05,
                "creatives": [_creative("valued", 728, 90)],
            },
        ],
    }
    return router


def write_bidders_file(
    directory: Path, routers: list[dict[str, Any]], dsps: list[dict[str, Any]] | None = None
) -> Path:
    """``bidders.json`` in ``directory`` with these routers and external DSPs."""
    path = directory / "bidders.json"
    path.write_bytes(orjson.dumps({"routers": routers, "dsps": dsps or []}))
    return path
