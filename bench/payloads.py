"""The bid request every serving benchmark sends, built once and pre-encoded.

A realistic web banner request of about 1.5 KB: what an SSP sends for one 300x250 slot,
with the objects a real request carries (publisher, content, device with geo, user with
data segments, privacy signals, a supply chain). The demo campaigns bid on it (300x250
creatives, CPMs 0.85–2.40 above the 0.50 floor), so the exchange runs a full auction and
answers 200 rather than short-cutting to a 204.
"""

from typing import Any, Final

import orjson

__all__ = ["AUCTION_PATH", "BANNER_REQUEST", "banner_request"]

AUCTION_PATH: Final = "/openrtb2/auction"

_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def banner_request() -> dict[str, Any]:
    """A fresh OpenRTB 2.6 site banner request (one imp, 300x250 or 300x600, floor 0.50 USD)."""
    return {
        "id": "bench-4b1d7c0e-9a53-4f0e-8d2a-6c1f0b7e2a91",
        "imp": [
            {
                "id": "1",
                "tagid": "homepage-mpu-1",
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
            }
        ],
        "site": {
            "id": "site-1029",
            "name": "Daily Example News",
            "domain": "news.example.com",
            "cat": ["IAB12"],
            "page": "https://news.example.com/world/story-123.html",
            "ref": "https://www.example.org/search?q=news",
            "publisher": {"id": "pub-8953", "name": "Example Media", "domain": "example.com"},
            "content": {
                "id": "story-123",
                "title": "Markets rally as rates hold steady",
                "cat": ["IAB12", "IAB13"],
                "language": "en",
                "keywords": "markets,rates,economy",
            },
        },
        "device": {
            "ua": _USER_AGENT,
            "ip": "81.2.69.160",  # public, in no data-centre range: traffic the screen passes
            "devicetype": 2,
            "make": "Generic",
            "os": "Windows",
            "osv": "10",
            "language": "en",
            "js": 1,
            "dnt": 0,
            "connectiontype": 2,
            "geo": {
                "lat": 40.7506,
                "lon": -73.9972,
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
            "data": [
                {
                    "id": "dp-1",
                    "name": "audience.example",
                    "segment": [{"id": "seg-auto-intender"}, {"id": "seg-travel"}],
                }
            ],
        },
        "at": 2,
        "tmax": 120,
        "cur": ["USD"],
        "bcat": ["IAB25", "IAB26"],
        "badv": ["blocked.example"],
        "source": {
            "tid": "tid-2c7e9b1d-5e7a-4c55-9f61-0d3b8a4e7c12",
            "schain": {
                "complete": 1,
                "ver": "1.0",
                "nodes": [{"asi": "ssp.example", "sid": "pub-8953", "hp": 1, "rid": "req-up-1"}],
            },
        },
        "regs": {"coppa": 0, "gdpr": 0, "us_privacy": "1YNN"},
    }


BANNER_REQUEST: Final[bytes] = orjson.dumps(banner_request())
"""The encoded request, sent unchanged by every load generator."""
