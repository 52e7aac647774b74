"""Synthetic bid requests over a day: users in eight countries, sites, a diurnal curve.

Each country's traffic follows the same local-time curve (a night trough about a sixth of
the evening peak, a morning and a midday bump), so the world's traffic, and every
campaign's share of it, has a shape of its own depending on where it targets: what a
pacing plan learnt from traffic must follow and an even plan cannot.

Requests are drawn at once as arrays (times in order, user, site, size), and turned into
OpenRTB ``BidRequest`` objects one at a time as the simulation consumes them. Randomness
comes only from the ``numpy.random.Generator`` given.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from budget.days import zone
from openrtb.request import BidRequest

COUNTRIES: Final = ("USA", "IND", "GBR", "DEU", "BRA", "FRA", "CAN", "JPN")
COUNTRY_SHARE: Final = (0.35, 0.12, 0.1, 0.1, 0.1, 0.08, 0.08, 0.07)
COUNTRY_ZONE: Final = (
    "America/New_York",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "Europe/Paris",
    "America/Toronto",
    "Asia/Tokyo",
)
SIZES: Final = ((300, 250), (728, 90), (320, 50), (300, 600), (160, 600))
SITE_CATS: Final = (
    "IAB1",
    "IAB2",
    "IAB3",
    "IAB8",
    "IAB9",
    "IAB12",
    "IAB14",
    "IAB15",
    "IAB17",
    "IAB19",
    "IAB20",
)
MAX_IMPS: Final = 3
_IMPS_SHARE: Final = (0.4, 0.35, 0.25)
"""Pages carry one to three ad slots."""
DEVICES: Final = (2, 4, 5)
"""AdCOM device types: personal computer, phone, tablet."""
_DEVICE_SHARE: Final = (0.4, 0.5, 0.1)
_OS: Final = (("Windows", "macOS"), ("iOS", "Android"), ("iOS", "Android"))
_UA: Final = "Mozilla/5.0 (sim) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def diurnal(local_hour: float) -> float:
    """Relative request rate at a local hour of the day (evening peak ≈ 1, night ≈ 0.17)."""

    def bump(centre: float, width: float) -> float:
        distance = min(abs(local_hour - centre), 24 - abs(local_hour - centre))
        return math.exp(-((distance / width) ** 2))

    return 0.15 + 0.8 * bump(20.5, 3.0) + 0.45 * bump(12.5, 2.5) + 0.25 * bump(8.0, 1.5)


@dataclass(frozen=True, slots=True)
class World:
    """Users and sites: who can be in a request, and where."""

    user_country: NDArray[np.intp]
    user_device: NDArray[np.intp]
    user_os: NDArray[Any]
    user_yob: NDArray[np.int64]
    user_gender: NDArray[Any]
    users_by_country: tuple[NDArray[np.intp], ...]
    activity_by_country: tuple[NDArray[np.float64], ...]
    site_cat: NDArray[Any]
    site_sizes: tuple[tuple[int, ...], ...]
    site_floor_cpm: NDArray[np.float64]
    site_price_level: NDArray[np.float64]
    """Median CPM of the outside market on the site."""
    site_ctr_factor: NDArray[np.float64]
    site_weight: NDArray[np.float64]

    @classmethod
    def sample(cls, rng: np.random.Generator, users: int = 60_000, sites: int = 300) -> "World":
        """Draw users (country, device, age, gender) and sites (category, sizes, floor,
        market price level, click propensity, popularity)."""
        country = rng.choice(len(COUNTRIES), users, p=COUNTRY_SHARE)
        device = rng.choice(len(DEVICES), users, p=_DEVICE_SHARE)
        os_names = np.array(
            [_OS[d][k] for d, k in zip(device, rng.integers(0, 2, users), strict=True)]
        )
        activity = rng.lognormal(0.0, 1.0, users)
        by_country = tuple(np.flatnonzero(country == c) for c in range(len(COUNTRIES)))
        sizes = tuple(
            tuple(sorted(rng.choice(len(SIZES), int(rng.integers(1, 3)), replace=False).tolist()))
            for _ in range(sites)
        )
        popularity = 1.0 / np.arange(1, sites + 1) ** 0.7
        return cls(
            user_country=country,
            user_device=device,
            user_os=os_names.astype(object),
            user_yob=rng.integers(1950, 2008, users),
            user_gender=rng.choice(
                np.array(["M", "F", "O"], dtype=object), users, p=[0.48, 0.48, 0.04]
            ),
            users_by_country=by_country,
            activity_by_country=tuple(activity[u] / activity[u].sum() for u in by_country),
            site_cat=rng.choice(np.array(SITE_CATS, dtype=object), sites),
            site_sizes=sizes,
            site_floor_cpm=np.round(rng.uniform(0.05, 0.5, sites), 2),
            site_price_level=rng.lognormal(math.log(1.2), 0.35, sites),
            site_ctr_factor=rng.lognormal(0.0, 0.3, sites),
            site_weight=popularity[rng.permutation(sites)] / popularity.sum(),
        )


@dataclass(frozen=True, slots=True)
class Traffic:
    """One span of requests as arrays, in time order."""

    times: NDArray[np.float64]
    user: NDArray[np.intp]
    site: NDArray[np.intp]
    sizes: NDArray[np.intp]
    """(requests, MAX_IMPS): the size of each imp, -1 past the request's last imp."""

    def __len__(self) -> int:
        return len(self.times)


def local_hours(start_s: float, end_s: float, step_s: float, time_zone: str) -> NDArray[np.float64]:
    """Local hour of day (fractional) at the middle of each step of [start, end)."""
    tz = zone(time_zone)
    mids = np.arange(start_s, end_s, step_s) + step_s / 2
    out = np.empty(len(mids))
    for i, t in enumerate(mids):
        local = datetime.fromtimestamp(float(t), tz=tz)
        out[i] = local.hour + local.minute / 60
    return out


def draw_traffic(
    world: World, rng: np.random.Generator, *, start_s: float, end_s: float, requests: int
) -> Traffic:
    """``requests`` requests over [start, end): per minute and country as many as that
    country's share and local diurnal curve say (multinomial), then users by activity,
    sites by popularity, a size the site offers."""
    step = 60.0
    curves = np.array(
        [
            share * np.array([diurnal(h) for h in local_hours(start_s, end_s, step, tz)])
            for share, tz in zip(COUNTRY_SHARE, COUNTRY_ZONE, strict=True)
        ]
    )  # (countries, minutes)
    counts = rng.multinomial(requests, (curves / curves.sum()).ravel()).reshape(curves.shape)
    country = np.repeat(np.repeat(np.arange(len(COUNTRIES)), curves.shape[1]), counts.ravel())
    minute = np.repeat(np.tile(np.arange(curves.shape[1]), len(COUNTRIES)), counts.ravel())
    times = start_s + (minute + rng.random(len(minute))) * step
    order = np.argsort(times, kind="stable")
    times, country = times[order], country[order]
    user = np.empty(len(times), dtype=np.intp)
    for c, members in enumerate(world.users_by_country):
        rows = np.flatnonzero(country == c)
        user[rows] = rng.choice(members, len(rows), p=world.activity_by_country[c])
    site = rng.choice(len(world.site_weight), len(times), p=world.site_weight)
    imps = rng.choice(np.arange(1, MAX_IMPS + 1), len(times), p=_IMPS_SHARE)
    pick = rng.integers(0, 2, (len(times), MAX_IMPS))
    sizes = np.full((len(times), MAX_IMPS), -1, dtype=np.intp)
    for i, (s, n) in enumerate(zip(site, imps, strict=True)):
        offered = world.site_sizes[s]
        for k in range(n):
            sizes[i, k] = offered[pick[i, k] % len(offered)]
    return Traffic(times, user, site, sizes)


def request_dict(world: World, traffic: Traffic, i: int) -> dict[str, Any]:
    """The OpenRTB request ``i`` of ``traffic`` as JSON-like data."""
    u, s = int(traffic.user[i]), int(traffic.site[i])
    country = COUNTRIES[int(world.user_country[u])]
    return {
        "id": f"sim-{i}",
        "at": 2,
        "tmax": 100,
        "imp": [
            {
                "id": str(k + 1),
                "tagid": f"slot-{s}-{k + 1}",
                "bidfloor": float(world.site_floor_cpm[s]),
                "bidfloorcur": "USD",
                "banner": {"w": SIZES[size][0], "h": SIZES[size][1]},
            }
            for k, size in enumerate(traffic.sizes[i].tolist())
            if size >= 0
        ],
        "site": {
            "id": f"site-{s}",
            "domain": f"site{s}.example",
            "cat": [world.site_cat[s]],
            "page": f"https://site{s}.example/",
            "publisher": {"id": f"pub-{s % 40}"},
        },
        "device": {
            "ua": _UA,
            "ip": f"198.51.{u % 250}.{u // 250 % 250}",
            "devicetype": DEVICES[int(world.user_device[u])],
            "os": world.user_os[u],
            "geo": {"country": country},
        },
        "user": {
            "id": f"user-{u}",
            "yob": int(world.user_yob[u]),
            "gender": world.user_gender[u],
        },
    }


def requests(world: World, traffic: Traffic) -> Iterator[tuple[float, BidRequest]]:
    """(time, validated request) in time order."""
    for i in range(len(traffic)):
        yield float(traffic.times[i]), BidRequest.model_validate(request_dict(world, traffic, i))
