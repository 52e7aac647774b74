"""A seeded mix of the bid requests an SSP sends, for load tests that should look like traffic.

One request over and over (``bench.payloads``) times one path through the exchange; an
operator's load test needs the mix the exchange will meet: banner, video and native on
sites and apps, PMP deals, pages of several slots, a DOOH screen, floors in USD, EUR and
GBP, and both the OpenRTB 2.6 fields and the 2.5 ``ext`` forms most SSPs still send
(``regs.ext.gdpr``/``user.ext.consent``/``source.ext.schain``/
``imp.ext.prebid.is_rewarded_inventory``/``video.placement`` against ``regs.gdpr``/
``user.consent``/``source.schain``/``imp.rwdd``/``video.plcmt``).

Everything is drawn from a ``random.Random`` the caller seeds, so a seed names a sequence
of requests exactly. The deals offered are those the exchange's own campaigns buy through
(``deal_ids``, read from the bidders file by ``configured_deal_ids``): deals nobody buys
only time the no-bid path. What the demo campaigns bid on — which sizes, countries and
currencies — decides which kinds win; the kinds they cannot serve (video, native, DOOH's
portrait screen, floors not in USD) are in the mix because an exchange mostly says no.
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

import orjson

from bench.payloads import banner_request

__all__ = [
    "DEFAULT_WEIGHTS",
    "KINDS",
    "Kind",
    "TrafficMix",
    "TrafficRequest",
    "Version",
    "build",
    "configured_deal_ids",
]

Kind = Literal[
    "site-banner",
    "app-banner",
    "site-video",
    "app-video",
    "native",
    "site-pmp",
    "multi-imp",
    "dooh",
]
Version = Literal["2.5", "2.6"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)

DEFAULT_WEIGHTS: Final[Mapping[Kind, float]] = {
    "site-banner": 30,
    "app-banner": 15,
    "site-video": 10,
    "app-video": 8,
    "native": 8,
    "site-pmp": 10,
    "multi-imp": 12,
    "dooh": 7,
}
"""Share of each kind in the mix (relative weights): display-heavy, as open exchanges are."""

SHARE_25: Final = 0.4
"""Share of requests in the OpenRTB 2.5 ``ext`` forms (DOOH has no 2.5 form)."""

CONSENT: Final = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"
"""The IAB's own TCF v2 example TC string (purposes 1–3 consented)."""

_DESKTOP_UA: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
_IOS_UA: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
_ANDROID_UA: Final = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)

# Public addresses in no data-centre range, each with the country it is in: traffic the
# screen passes (documentation and private ranges are refused as no real device's).
_PLACES: Final = (
    ("216.160.83.56", "USA", "WA", -480),
    ("24.24.24.24", "USA", "NY", -300),
    ("81.2.69.160", "GBR", "ENG", 0),
    ("2.125.160.216", "GBR", "ENG", 0),
    ("89.160.20.112", "SWE", "E", 60),
    ("91.64.1.1", "DEU", "BE", 60),
    ("24.114.0.1", "CAN", "ON", -300),
)
_EU: Final = frozenset({"GBR", "SWE", "DEU"})
"""Where GDPR (or the UK's copy of it) applies: these requests carry ``gdpr`` and consent."""

_PLACEMENT_25: Final = {1: 1, 3: 5}
"""2.6 ``plcmt`` → 2.5 ``placement``: instream is 1 in both; interstitial is 5 in 2.5."""

_BANNER_SIZES: Final = ((300, 250), (728, 90), (160, 600), (300, 600), (320, 50))
_VIDEO_MIMES: Final = ["video/mp4", "video/webm", "application/javascript"]


@dataclass(frozen=True, slots=True)
class TrafficRequest:
    """One generated bid request: its kind (the load test's request name), the OpenRTB
    version its fields follow, and the JSON object."""

    kind: Kind
    version: Version
    body: dict[str, Any]

    def encoded(self) -> bytes:
        """The request body as sent."""
        return orjson.dumps(self.body)


class TrafficMix:
    """An endless, seeded sequence of requests in the proportions of ``weights``."""

    def __init__(
        self,
        seed: int,
        *,
        deal_ids: Sequence[str] = (),
        weights: Mapping[Kind, float] = DEFAULT_WEIGHTS,
        share_25: float = SHARE_25,
    ) -> None:
        unknown = set(weights) - set(KINDS)
        if unknown or not any(w > 0 for w in weights.values()):
            raise ValueError(f"weights: need a positive weight among {KINDS}, got {weights}")
        self._rng = random.Random(seed)
        self._kinds = [k for k in KINDS if weights.get(k, 0) > 0]
        self._weights = [weights[k] for k in self._kinds]
        self._deal_ids = tuple(deal_ids)
        self._share_25 = share_25

    def next(self) -> TrafficRequest:
        """The next request of the sequence."""
        rng = self._rng
        kind = rng.choices(self._kinds, self._weights)[0]
        version: Version = "2.5" if kind != "dooh" and rng.random() < self._share_25 else "2.6"
        return TrafficRequest(kind, version, build(kind, version, rng, self._deal_ids))

    def take(self, count: int) -> list[TrafficRequest]:
        """The next ``count`` requests."""
        return [self.next() for _ in range(count)]


def configured_deal_ids(bidders_file: Path | None = None) -> tuple[str, ...]:
    """The PMP deal ids the campaigns of ``bidders_file`` (None: the demo's) buy through."""
    from exchange.bidders.config import load_bidders  # the exchange's own reader, lazily

    routers = load_bidders(bidders_file).routers
    return tuple(sorted({d for r in routers for c in r.campaigns for d in c.deal_ids}))


def build(
    kind: Kind, version: Version, rng: random.Random, deal_ids: Sequence[str] = ()
) -> dict[str, Any]:
    """One request of ``kind`` in the fields of ``version``, drawn from ``rng``."""
    if kind == "dooh":
        return _dooh(rng)
    body = _BUILDERS[kind](rng, deal_ids)
    _privacy_and_supply(body, version, rng)
    if version == "2.5":
        _to_25(body)
    return body


# --- the kinds ------------------------------------------------------------------------------


def _hex(rng: random.Random, bits: int = 64) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _floor(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


def _base(rng: random.Random, kind: str) -> dict[str, Any]:
    return {
        "id": f"{kind}-{_hex(rng)}",
        "at": 2 if rng.random() < 0.8 else 1,
        "tmax": rng.choice((100, 120, 150, 200)),
        "cur": ["USD"],
        "bcat": ["IAB25", "IAB26"],
        "source": {"tid": _hex(rng, 128)},
    }


def _geo(rng: random.Random) -> tuple[str, dict[str, Any]]:
    ip, country, region, offset = rng.choice(_PLACES)
    return ip, {"country": country, "region": region, "type": 2, "utcoffset": offset}


def _site_device(rng: random.Random) -> dict[str, Any]:
    ip, geo = _geo(rng)
    return {
        "ua": _DESKTOP_UA,
        "ip": ip,
        "devicetype": 2,
        "os": "Windows",
        "osv": "10",
        "js": 1,
        "language": "en",
        "connectiontype": 2,
        "geo": geo,
    }


def _app_device(rng: random.Random) -> dict[str, Any]:
    ip, geo = _geo(rng)
    ios = rng.random() < 0.45
    return {
        "ua": _IOS_UA if ios else _ANDROID_UA,
        "ip": ip,
        "devicetype": 4,
        "make": "Apple" if ios else "Google",
        "model": "iPhone" if ios else "Pixel 8",
        "os": "iOS" if ios else "Android",
        "osv": "17.4" if ios else "14",
        "w": 390 if ios else 412,
        "h": 844 if ios else 915,
        "ifa": _uuid(rng),
        "lmt": 0,
        "connectiontype": rng.choice((2, 6)),
        "geo": geo,
    }


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _user(rng: random.Random) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": f"u-{_hex(rng)}",
        "eids": [{"source": "id5-sync.com", "uids": [{"id": f"ID5-{_hex(rng)}", "atype": 1}]}],
    }
    if rng.random() < 0.6:
        user["yob"] = rng.randint(1955, 2004)
    return user


def _site(rng: random.Random) -> dict[str, Any]:
    section = rng.choice(("world", "sport", "travel", "business"))
    return {
        "id": "site-1029",
        "name": "Daily Example News",
        "domain": "news.example.com",
        "cat": ["IAB12"],
        "page": f"https://news.example.com/{section}/story-{rng.randint(1, 9999)}.html",
        "publisher": {"id": "pub-8953", "name": "Example Media", "domain": "example.com"},
    }


def _app(rng: random.Random) -> dict[str, Any]:
    name, bundle, cat = rng.choice(
        (
            ("Puzzle Quest", "com.example.puzzlequest", "IAB9-30"),
            ("Weather Now", "com.example.weathernow", "IAB15-10"),
            ("Run Tracker", "com.example.runtracker", "IAB17"),
        )
    )
    return {
        "id": f"app-{bundle.rsplit('.', 1)[1]}",
        "name": name,
        "bundle": bundle,
        "storeurl": f"https://apps.example.com/{bundle}",
        "cat": [cat],
        "ver": "3.2.1",
        "publisher": {"id": "pub-2041", "name": "Example Apps"},
    }


def _banner_imp(imp_id: str, w: int, h: int, floor: float, cur: str = "USD") -> dict[str, Any]:
    return {
        "id": imp_id,
        "tagid": f"slot-{w}x{h}-{imp_id}",
        "secure": 1,
        "bidfloor": floor,
        "bidfloorcur": cur,
        "banner": {"w": w, "h": h, "format": [{"w": w, "h": h}], "pos": 1, "api": [3, 5]},
    }


def _site_banner(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    body = banner_request()  # the serving benchmark's request, drawn instead of fixed
    body.update(_base(rng, "site-banner"))
    w, h = rng.choice(_BANNER_SIZES[:4])
    imp = body["imp"][0]
    imp["bidfloor"] = _floor(rng, 0.1, 1.0)
    imp["banner"].update({"w": w, "h": h, "format": [{"w": w, "h": h}]})
    body["site"]["page"] = _site(rng)["page"]
    body["device"] = _site_device(rng)
    body["user"] = {**body["user"], **_user(rng)}
    # The SSP's accepted currencies: the answer comes in the first one the exchange converts.
    body["cur"] = rng.choice((["USD"], ["USD"], ["EUR", "USD"], ["GBP"]))
    return body


def _app_banner(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    interstitial = rng.random() < 0.3
    w, h = (300, 250) if interstitial else (320, 50)
    imp = _banner_imp("1", w, h, _floor(rng, 0.05, 0.8))
    imp["instl"] = int(interstitial)
    return {
        **_base(rng, "app-banner"),
        "imp": [imp],
        "app": _app(rng),
        "device": _app_device(rng),
        "user": _user(rng),
    }


def _video(rng: random.Random, plcmt: int, w: int, h: int) -> dict[str, Any]:
    return {
        "mimes": _VIDEO_MIMES,
        "minduration": 5,
        "maxduration": rng.choice((15, 30, 60)),
        "protocols": [2, 3, 5, 6, 7, 8],
        "w": w,
        "h": h,
        "startdelay": 0,
        "plcmt": plcmt,
        "linearity": 1,
        "skip": 1,
        "skipafter": 5,
        "api": [2, 7],
    }


def _site_video(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    imp = {
        "id": "1",
        "secure": 1,
        "bidfloor": _floor(rng, 2.0, 8.0),
        "bidfloorcur": "EUR",
        "video": _video(rng, 1, 640, 360),
    }
    return {
        **_base(rng, "site-video"),
        "cur": ["EUR", "USD"],
        "imp": [imp],
        "site": _site(rng),
        "device": _site_device(rng),
        "user": _user(rng),
    }


def _app_video(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    imp = {
        "id": "1",
        "instl": 1,
        "rwdd": 1,  # rewarded: the user chose to watch for an in-game reward
        "bidfloor": _floor(rng, 3.0, 10.0),
        "bidfloorcur": "GBP",
        "video": _video(rng, 3, 390, 844),  # 3: interstitial
    }
    return {
        **_base(rng, "app-video"),
        "cur": ["GBP", "USD"],
        "imp": [imp],
        "app": _app(rng),
        "device": _app_device(rng),
        "user": _user(rng),
    }


_NATIVE_REQUEST: Final = orjson.dumps(
    {
        "ver": "1.2",
        "context": 2,
        "plcmttype": 1,
        "plcmtcnt": 1,
        "assets": [
            {"id": 1, "required": 1, "title": {"len": 90}},
            {"id": 2, "required": 1, "img": {"type": 3, "wmin": 1200, "hmin": 627}},
            {"id": 3, "required": 0, "data": {"type": 2, "len": 140}},
        ],
        "eventtrackers": [{"event": 1, "methods": [1]}],
    }
).decode()


def _native(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    imp = {
        "id": "1",
        "bidfloor": _floor(rng, 0.3, 1.5),
        "bidfloorcur": "USD",
        "native": {"request": _NATIVE_REQUEST, "ver": "1.2", "api": [3, 5]},
    }
    body = {**_base(rng, "native"), "imp": [imp], "user": _user(rng)}
    if rng.random() < 0.5:
        body.update(site=_site(rng), device=_site_device(rng))
    else:
        body.update(app=_app(rng), device=_app_device(rng))
    return body


def _site_pmp(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    body = _site_banner(rng, deal_ids)
    body["id"] = f"site-pmp-{_hex(rng)}"
    body["cur"] = ["USD"]
    imp = body["imp"][0]
    w, h = rng.choice(((300, 250), (300, 600)))
    imp["banner"].update({"w": w, "h": h, "format": [{"w": w, "h": h}]})
    offered = list(deal_ids) or [f"deal-{_hex(rng, 32)}"]  # no deals configured: nobody buys
    deals = [
        {"id": d, "bidfloor": _floor(rng, 0.8, 1.5), "bidfloorcur": "USD", "at": 1}
        for d in rng.sample(offered, k=rng.randint(1, len(offered)))
    ]
    imp["pmp"] = {"private_auction": int(rng.random() < 0.5), "deals": deals}
    return body


def _multi_imp(rng: random.Random, deal_ids: Sequence[str]) -> dict[str, Any]:
    cur = rng.choice(("USD", "USD", "EUR"))
    slots = ((728, 90), (300, 250), (160, 600), (300, 250))[: rng.randint(2, 4)]
    imps = [
        _banner_imp(str(i), w, h, _floor(rng, 0.1, 0.9), cur)
        for i, (w, h) in enumerate(slots, start=1)
    ]
    return {
        **_base(rng, "multi-imp"),
        "cur": [cur] if cur == "USD" else [cur, "USD"],
        "imp": imps,
        "site": _site(rng),
        "device": _site_device(rng),
        "user": _user(rng),
    }


def _dooh(rng: random.Random) -> dict[str, Any]:
    """A roadside screen in the spirit of the OpenRTB 2.6 implementation guide's DOOH
    banner example (7.9.6.1): GBP floors, impressions multiplied by audience, venue type."""
    return {
        "id": f"dooh-{_hex(rng)}",
        "at": 1,
        "tmax": 500,
        "cur": ["GBP"],
        "imp": [
            {
                "id": "1",
                "secure": 1,
                "exp": 360,
                "bidfloor": _floor(rng, 4.0, 6.0),
                "bidfloorcur": "GBP",
                "banner": {
                    "w": 1080,
                    "h": 1920,
                    "format": [{"w": 1080, "h": 1920}, {"w": 720, "h": 1366}],
                    "mimes": ["image/jpg", "image/png", "text/html"],
                },
                "pmp": {
                    "private_auction": 0,
                    "deals": [{"id": "123", "at": 1, "bidfloor": 4.5, "bidfloorcur": "GBP"}],
                },
                "dt": 1_767_225_600_000 + rng.randint(0, 86_400_000),
                "qty": {
                    "multiplier": round(rng.uniform(5.0, 25.0), 1),
                    "sourcetype": 1,
                    "vendor": "route.org.uk",
                },
            }
        ],
        "dooh": {
            "id": f"screen-{rng.randint(10000, 19999)}",
            "name": "Roadside D96",
            "keywords": "Roadside, Billboard, D96",
            "venuetype": ["30101"],
            "venuetypetax": 1,
            "publisher": {"id": "G1", "name": "Global"},
            "domain": "global.com",
        },
        "device": {
            "ip": "81.2.69.160",
            "devicetype": 8,
            "w": 1080,
            "h": 1920,
            "ppi": 72,
            "ifa": str(rng.randint(10**9, 10**10 - 1)),
            "geo": {"lat": 51.5074, "lon": -0.1235, "country": "GBR", "type": 1},
        },
        "regs": {"gdpr": 0},
        "source": {"tid": _hex(rng, 128)},
    }


_BUILDERS: Final = {
    "site-banner": _site_banner,
    "app-banner": _app_banner,
    "site-video": _site_video,
    "app-video": _app_video,
    "native": _native,
    "site-pmp": _site_pmp,
    "multi-imp": _multi_imp,
}


# --- privacy, supply chain, and the 2.5 forms ---------------------------------------------


def _privacy_and_supply(body: dict[str, Any], version: Version, rng: random.Random) -> None:
    """The OpenRTB 2.6 fields of privacy and supply chain; ``_to_25`` moves them to ext."""
    country = body["device"]["geo"]["country"]
    regs: dict[str, Any] = {"coppa": 0}
    if country in _EU:
        regs["gdpr"] = 1
        body["user"]["consent"] = CONSENT
    else:
        regs["gdpr"] = 0
        if country == "USA":
            regs["us_privacy"] = rng.choice(("1YNN", "1YNN", "1YYN"))
    body["regs"] = regs
    publisher = (body.get("site") or body.get("app") or {}).get("publisher", {})
    nodes = [{"asi": "ssp.example", "sid": publisher.get("id", "pub-0"), "hp": 1}]
    if rng.random() < 0.3:  # resold once: an intermediary's node before ours
        nodes.insert(0, {"asi": "reseller.example", "sid": "r-77", "hp": 1})
    body["source"]["schain"] = {"complete": 1, "ver": "1.0", "nodes": nodes}


def _to_25(body: dict[str, Any]) -> None:
    """Move the fields 2.6 gave a home to where 2.5 SSPs send them (``openrtb.upgrade``)."""
    regs = body["regs"]
    moved = {k: regs.pop(k) for k in ("gdpr", "us_privacy") if k in regs}
    regs["ext"] = moved
    user = body["user"]
    user_ext = {k: user.pop(k) for k in ("consent", "eids") if k in user}
    if user_ext:
        user["ext"] = user_ext
    source = body["source"]
    source["ext"] = {"schain": source.pop("schain")}
    for imp in body["imp"]:
        if imp.pop("rwdd", 0):
            imp["ext"] = {"prebid": {"is_rewarded_inventory": 1}}
        video = imp.get("video")
        if video is not None and "plcmt" in video:
            video["placement"] = _PLACEMENT_25[video.pop("plcmt")]
