"""Synthetic impression logs in the raw iPinYou shape, with known click probabilities.

Real click logs are what ``rtb train --input`` and ``rtb replay`` are for, but they carry no
truth and cannot ship with the tests. This generator writes logs shaped like the public
iPinYou RTB benchmark (Zhang, Yuan, Wang 2014): one impression per line, tab-separated,
named fields ``IPINYOU_FIELDS`` — high-cardinality text fields (IP, domain, url, slot id,
city: thousands of values each, Zipf-like popularity), a few low-cardinality ones (ad
exchange, slot format and visibility, advertiser), a comma-separated ``usertag`` list
(``null`` when empty, as in the benchmark), the click label, the market price ``payprice``
(the second price the impression sold at, CPM in the log's unit) and ``timestamp``
(``yyyyMMddHHmmssSSS``, in time order) — plus the true click probability ``p_click``.

The true click logit is additive only in part, as in real traffic:

    bias + domain effect + slot effect (within its domain) + city effect
    + visibility and size effects + log(1 + floor) effect
    + an advertiser's lift in its home regions        (advertiser × region)
    + an advertiser's lift on users with its tags      (advertiser × usertag)
    + a mobile lift in the evening                     (useragent × hour)
    + an exchange's lift on pop-up slots               (adexchange × slotformat)

while IP, url (beyond its domain), creative within an advertiser and weekday carry no
signal: a model has to learn to ignore noise in high-cardinality fields. ``bias`` is solved
so the mean probability is ``LogSpec.ctr``. The market price is log-normal around a level
set by the floor, the size, the exchange and the domain's effect (better impressions cost
more), ± ``hourly_price_swing`` along the hour of day and times the day's own level when
``generate_log`` is given one per day (markets move from day to day); never below the
floor, rounded to whole CPMs and capped at 300 as iPinYou's bids were. Traffic follows a
diurnal curve (the night a sixth of the evening peak), each whole day with the same number
of impressions.

``predicted_ctr`` adds what the compact iPinYou form carries instead of the fields: a pCTR
from a model that sees each impression's click log-odds through noise, calibrated on the
rows it was fitted on. This is the project's one synthetic iPinYou generator: ``rtb synth
--shape ipinyou`` writes its logs, and ``rtb replay --synthetic`` (``simulation.replay.
synthetic``) replays its market prices, clicks and predicted pCTRs.

Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "IPINYOU_FIELDS",
    "IPINYOU_SCHEMA",
    "LogSpec",
    "day_of",
    "generate_log",
    "predicted_ctr",
    "write_log",
]

IPINYOU_FIELDS: Final = (
    "click",
    "weekday",
    "hour",
    "timestamp",
    "useragent",
    "IP",
    "region",
    "city",
    "adexchange",
    "domain",
    "url",
    "slotid",
    "slotwidth",
    "slotheight",
    "slotvisibility",
    "slotformat",
    "slotprice",
    "creative",
    "payprice",
    "advertiser",
    "usertag",
)
"""The fields written, in order (the benchmark's own names); ``p_click`` follows them."""

IPINYOU_SCHEMA: Final[Mapping[str, Any]] = {
    "label": "click",
    "time": "timestamp",
    "categorical": [
        "weekday",
        "hour",
        "useragent",
        "IP",
        "region",
        "city",
        "adexchange",
        "domain",
        "url",
        "slotid",
        "slotvisibility",
        "slotformat",
        "creative",
        "advertiser",
    ],
    "numeric": ["slotwidth", "slotheight", "slotprice"],
    "tags": {"usertag": ","},
    "crosses": [["advertiser", "region"], ["useragent", "hour"], ["adexchange", "slotformat"]],
    "truth": "p_click",
    "ignore": ["payprice"],
}
"""The schema of these logs as ``rtb train --schema`` reads it (``bidding.log_schema``):
the market price is not a feature, the truth gives the oracle's figures."""

_ADVERTISERS: Final = ("1458", "2259", "2261", "2821", "2997", "3358", "3386", "3427", "3476")
_BROWSERS: Final = ("chrome", "ie", "firefox", "safari", "opera", "maxthon", "sogou", "theworld")
_DESKTOP_OS: Final = ("windows", "mac", "linux")
_MOBILE_OS: Final = ("android", "ios")
_SIZES: Final = ((300, 250), (728, 90), (960, 90), (250, 250), (160, 600), (1000, 90), (336, 280))
_SIZE_EFFECT: Final = (0.2, -0.2, -0.3, 0.1, 0.0, -0.4, 0.15)
_VISIBILITY: Final = ("FirstView", "SecondView", "OtherView", "Na")
_VISIBILITY_EFFECT: Final = (0.35, -0.1, -0.35, 0.0)
_FORMATS: Final = ("Fixed", "Na", "Pop")
_EXCHANGES: Final = ("1", "2", "3", "4")
_FLOORS: Final = (0, 5, 10, 50, 70, 100, 200, 238)
_FLOOR_SHARES: Final = (0.4, 0.15, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02)
"""Most slots have no or a low floor, a few a high one."""
_TAGS: Final = 60
_START: Final = np.datetime64("2013-06-06T00:00:00", "ms")
_HOUR_MS: Final = 3_600_000
_DAY_MS: Final = 24 * _HOUR_MS
_DIURNAL: Final = (2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5, 5.5, 6, 6, 6, 6, 6, 6, 6.5, 7, 8, 9, 9, 8, 6, 4)
"""Relative traffic per hour of day."""
_MAX_PRICE_CPM: Final = 300
_ALPHABET: Final = np.array(list("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))


@dataclass(frozen=True, slots=True)
class LogSpec:
    """Size and shape of a synthetic log."""

    rows: int = 300_000
    ctr: float = 0.003
    """Mean true click probability (the benchmark's campaigns: 0.03–0.1 %… 0.5 %)."""
    days: float = 7.0
    domains: int = 4_000
    slots_per_domain: int = 3
    urls_per_domain: int = 6
    ips: int = 40_000
    cities: int = 2_000
    regions: int = 35
    creatives_per_advertiser: int = 8
    domain_spread: float = 0.7
    """Standard deviation of the domains' click log-odds effects."""
    interaction: float = 0.9
    """Size of each interaction lift (log-odds)."""
    evening_lift: float | None = None
    """The mobile × evening lift alone (None: ``interaction``; 0: a CTR that does not vary
    with the hour of day, as ``rtb replay --synthetic``'s logs by default)."""
    hourly_price_swing: float = 0.15
    """The market price level's swing along the hour of day (a sine, ± this share)."""


def _ids(rng: np.random.Generator, count: int, length: int) -> NDArray[Any]:
    """``count`` distinct random base-62 strings (the benchmark's anonymised ids)."""
    out: set[str] = set()
    while len(out) < count:
        draw = rng.choice(_ALPHABET, size=(count, length))
        out.update("".join(row) for row in draw)
    return np.array(sorted(out)[:count], dtype=object)[rng.permutation(count)]


def _zipf(rng: np.random.Generator, count: int, rows: int, exponent: float) -> NDArray[np.intp]:
    """``rows`` draws from ``count`` items with Zipf-like popularity (item order shuffled)."""
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    weights = weights[rng.permutation(count)]
    return rng.choice(count, rows, p=weights / weights.sum())


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return out


def _solve_bias(logit: NDArray[np.float64], ctr: float) -> float:
    """The constant that makes the mean of sigmoid(logit + c) equal ``ctr`` (bisection)."""
    low, high = -30.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2.0
        if float(_sigmoid(logit + mid).mean()) < ctr:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def _offsets_ms(spec: LogSpec, rng: np.random.Generator) -> NDArray[np.int64]:
    """Times from the start, in order: each day's share of the rows is its share of the
    span's diurnal traffic (whole days alike, to within a row), drawn along its hours."""
    weights = np.asarray(_DIURNAL, dtype=np.float64)
    span = int(spec.days * _DAY_MS)
    hours = -(-span // _HOUR_MS)
    length = np.minimum(_HOUR_MS, span - np.arange(hours) * _HOUR_MS)  # the last may be short
    mass = weights[np.arange(hours) % 24] * length
    days = -(-hours // 24)
    day_mass = np.bincount(np.arange(hours) // 24, weights=mass, minlength=days)
    counts = np.floor(spec.rows * day_mass / day_mass.sum()).astype(np.int64)
    counts[: spec.rows - int(counts.sum())] += 1
    out = []
    for day, count in enumerate(counts.tolist()):
        within = mass[day * 24 : (day + 1) * 24]
        hour = day * 24 + rng.choice(len(within), count, p=within / within.sum())
        out.append(hour * _HOUR_MS + np.floor(rng.random(count) * length[hour]).astype(np.int64))
    return np.sort(np.concatenate(out))


def generate_log(
    spec: LogSpec, rng: np.random.Generator, *, day_price: NDArray[np.float64] | None = None
) -> dict[str, NDArray[Any]]:
    """A log of ``spec.rows`` impressions in time order: the ``IPINYOU_FIELDS`` columns
    (text as object arrays, ``slotwidth``/``slotheight``/``slotprice``/``payprice``/
    ``click`` as float64) and ``p_click``. ``day_price``: each day's market price level,
    a factor per day of the span (none: 1 every day)."""
    n = spec.rows
    if n < 1 or not 0.0 < spec.ctr < 0.5 or not spec.days > 0:
        raise ValueError("a log needs rows ≥ 1, days > 0 and a CTR in (0, 0.5)")
    span_days = math.ceil(spec.days)
    if day_price is not None and len(day_price) < span_days:
        raise ValueError(f"{len(day_price)} day price levels for {span_days} days")
    # The world: sites with slots and urls, people's addresses and places, advertisers.
    d = spec.domains
    domain_names = _ids(rng, d, 20)
    domain_effect = rng.normal(0.0, spec.domain_spread, d)
    domain_size = rng.integers(0, len(_SIZES), (d, spec.slots_per_domain))
    domain_visibility = rng.integers(0, len(_VISIBILITY), (d, spec.slots_per_domain))
    domain_format = rng.choice(len(_FORMATS), (d, spec.slots_per_domain), p=[0.6, 0.3, 0.1])
    domain_floor = rng.choice(len(_FLOORS), (d, spec.slots_per_domain), p=_FLOOR_SHARES)
    slot_effect = rng.normal(0.0, 0.3, (d, spec.slots_per_domain))
    domain_exchange = rng.integers(0, len(_EXCHANGES), d)
    city_region = rng.integers(0, spec.regions, spec.cities)
    city_effect = rng.normal(0.0, 0.15, spec.cities)
    ip_prefix = rng.integers(1, 224, (spec.ips, 3))
    ip_city = _zipf(rng, spec.cities, spec.ips, 0.9)
    a = len(_ADVERTISERS)
    home_regions = np.zeros((a, spec.regions), dtype=np.bool_)
    for i in range(a):
        home_regions[i, rng.choice(spec.regions, 4, replace=False)] = True
    advertiser_tags = np.stack([rng.choice(_TAGS, 3, replace=False) for _ in range(a)])
    pop_exchange = rng.integers(0, len(_EXCHANGES))
    creatives = _ids(rng, a * spec.creatives_per_advertiser, 32)

    # The impressions.
    offset_ms = _offsets_ms(spec, rng)
    when = _START + offset_ms.astype("timedelta64[ms]")
    hour = ((offset_ms // _HOUR_MS) % 24).astype(np.intp)
    day = (offset_ms // _DAY_MS).astype(np.intp)
    weekday = ((day + 3) % 7).astype(np.intp)  # 2013-06-06: a Thursday
    domain = _zipf(rng, d, n, 1.0)
    slot = rng.integers(0, spec.slots_per_domain, n)
    url = rng.integers(0, spec.urls_per_domain, n)
    ip = _zipf(rng, spec.ips, n, 0.8)
    city = np.where(rng.random(n) < 0.9, ip_city[ip], rng.integers(0, spec.cities, n))
    region = city_region[city]
    mobile = rng.random(n) < 0.3
    os_index = np.where(
        mobile,
        rng.integers(0, len(_MOBILE_OS), n),
        rng.choice(len(_DESKTOP_OS), n, p=[0.85, 0.1, 0.05]),
    )
    browser = rng.choice(len(_BROWSERS), n, p=[0.3, 0.3, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
    advertiser = rng.integers(0, a, n)
    creative = advertiser * spec.creatives_per_advertiser + rng.integers(
        0, spec.creatives_per_advertiser, n
    )
    tag_count = rng.poisson(1.5, n)
    tag_draws = rng.integers(0, _TAGS, (n, 5))
    has_tag = np.arange(5)[None, :] < np.minimum(tag_count, 5)[:, None]
    exchange = np.where(rng.random(n) < 0.9, domain_exchange[domain], rng.integers(0, 4, n))
    size = domain_size[domain, slot]
    visibility = domain_visibility[domain, slot]
    fmt = domain_format[domain, slot]
    floor = np.asarray(_FLOORS, dtype=np.float64)[domain_floor[domain, slot]]

    interest = (
        has_tag & (tag_draws[:, :, None] == advertiser_tags[advertiser][:, None, :]).any(axis=2)
    ).any(axis=1)
    lift = spec.interaction
    logit = (
        domain_effect[domain]
        + slot_effect[domain, slot]
        + city_effect[city]
        + np.asarray(_VISIBILITY_EFFECT)[visibility]
        + np.asarray(_SIZE_EFFECT)[size]
        + 0.08 * np.log1p(floor)
        + lift * home_regions[advertiser, region]
        + lift * interest
        + (lift if spec.evening_lift is None else spec.evening_lift) * (mobile & (hour >= 19))
        + lift * ((exchange == pop_exchange) & (fmt == _FORMATS.index("Pop")))
    )
    p_click = _sigmoid(logit + _solve_bias(logit, spec.ctr))
    click = (rng.random(n) < p_click).astype(np.float64)

    level = (
        3.0
        + 0.25 * np.log1p(floor)
        + 0.2 * exchange
        + 0.25 * domain_effect[domain]
        + 0.1 * np.asarray(_SIZE_EFFECT)[size]
    )
    cycle = 1.0 + spec.hourly_price_swing * np.sin((hour - 6) / 24 * 2 * np.pi)
    levels = np.ones(span_days) if day_price is None else np.asarray(day_price, np.float64)
    price = np.round(np.exp(level + rng.normal(0.0, 0.5, n)) * cycle * levels[day])
    payprice = np.clip(np.maximum(floor, price), 1.0, _MAX_PRICE_CPM)

    sizes = np.asarray(_SIZES, dtype=np.float64)[size]
    os_names = np.where(
        mobile, np.array(_MOBILE_OS, dtype=object)[np.minimum(os_index, 1)],
        np.array(_DESKTOP_OS, dtype=object)[os_index],
    )  # fmt: skip
    useragent = os_names + "_" + np.array(_BROWSERS, dtype=object)[browser]
    ips = ip_prefix[ip]
    ip_text = np.array([f"{p[0]}.{p[1]}.{p[2]}.*" for p in ips.tolist()], dtype=object)
    tag_ids = tag_draws + 10_000
    usertag = np.array(
        [
            ",".join(str(t) for t in sorted(set(row[:k]))) if k else "null"
            for row, k in zip(tag_ids.tolist(), np.minimum(tag_count, 5).tolist(), strict=True)
        ],
        dtype=object,
    )
    stamps = np.char.replace(
        np.char.replace(
            np.char.replace(np.char.replace(when.astype(str), "-", ""), "T", ""), ":", ""
        ),
        ".",
        "",
    )
    slot_names = np.array(
        [f"mm_{d_}_{s_}" for d_, s_ in zip(domain.tolist(), slot.tolist(), strict=True)],
        dtype=object,
    )
    return {
        "click": click,
        "weekday": weekday.astype(str).astype(object),
        "hour": np.char.zfill(hour.astype(str), 2).astype(object),
        "timestamp": stamps.astype(object),
        "useragent": useragent,
        "IP": ip_text,
        "region": (region * 15 + 1).astype(str).astype(object),
        "city": (city + 1000).astype(str).astype(object),
        "adexchange": np.array(_EXCHANGES, dtype=object)[exchange],
        "domain": domain_names[domain],
        "url": np.array(
            [
                f"{name}{u}"
                for name, u in zip(domain_names[domain].tolist(), url.tolist(), strict=True)
            ],
            dtype=object,
        ),
        "slotid": slot_names,
        "slotwidth": sizes[:, 0],
        "slotheight": sizes[:, 1],
        "slotvisibility": np.array(_VISIBILITY, dtype=object)[visibility],
        "slotformat": np.array(_FORMATS, dtype=object)[fmt],
        "slotprice": floor,
        "creative": creatives[creative],
        "payprice": payprice,
        "advertiser": np.array(_ADVERTISERS, dtype=object)[advertiser],
        "usertag": usertag,
        "p_click": p_click,
    }


def day_of(columns: Mapping[str, NDArray[Any]]) -> NDArray[np.intp]:
    """The day of each row of a generated log, 0 for its first (from ``timestamp``)."""
    stamps = columns["timestamp"].tolist()
    dates = np.array([f"{t[:4]}-{t[4:6]}-{t[6:8]}" for t in stamps], dtype="datetime64[D]")
    out: NDArray[np.intp] = (dates - _START.astype("datetime64[D]")).astype(np.intp)
    return out


def predicted_ctr(
    p_click: NDArray[np.float64],
    noise: float,
    rng: np.random.Generator,
    fitted_on: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """A CTR model's pCTR of impressions whose true probabilities are ``p_click``: it sees
    each one's log-odds through Gaussian noise (``noise`` times their spread; 0: a perfect
    model) and predicts E[log-odds | what it sees] (a regression, exact for normal
    log-odds) as a probability, calibrated on average on the ``fitted_on`` rows."""
    logit = np.log(p_click / (1.0 - p_click))
    fit = logit[fitted_on]
    seen = logit + noise * float(fit.std()) * rng.standard_normal(len(logit))
    seen_fit = seen[fitted_on]
    slope = float(np.cov(fit, seen_fit)[0, 1] / seen_fit.var(ddof=1))
    score = np.exp(slope * (seen - seen_fit.mean()))
    calibrated = score * (float(p_click[fitted_on].mean()) / float(score[fitted_on].mean()))
    out: NDArray[np.float64] = np.minimum(calibrated, 1.0)
    return out


_NUMBERS: Final = frozenset({"click", "slotwidth", "slotheight", "slotprice", "payprice"})


def write_log(columns: Mapping[str, NDArray[Any]], path: Path) -> None:
    """Write a log as the benchmark does: tab-separated with a header line (numbers
    without a fraction as integers, ``p_click`` to 12 significant digits). A ``.csv`` path
    is written comma-separated, a ``.parquet`` one as Parquet (needs the ``train`` extra:
    pyarrow)."""
    names = [n for n in (*IPINYOU_FIELDS, "p_click") if n in columns]
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({name: columns[name] for name in names}), path)
        return
    cells = []
    for name in names:
        values = columns[name].tolist()
        if name in _NUMBERS:
            cells.append([str(int(v)) if v == int(v) else repr(v) for v in values])
        elif name == "p_click":
            cells.append([f"{v:.12g}" for v in values])
        else:
            cells.append(values)
    with path.open("w", newline="", encoding="utf-8") as out:
        delimiter = "," if path.suffix == ".csv" else "\t"
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*cells, strict=True))
