"""Synthetic ad traffic whose true click and conversion probabilities are known.

Training quality can only be judged against the truth, and real logs do not carry it. This
generator samples a small world — users with latent topic interests, sites with
categories, campaigns with creatives — and impressions in it, and writes every impression
with the raw columns of ``bidding.features`` (so the model sees exactly what serving would
see), its labels, and the probabilities that produced them (``p_click``, ``p_conversion``):
the oracle a trained model is measured against.

The true click logit is

    bias + α·(user interests · creative topic) + site, campaign and creative effects
    + size, position, local hour, weekday, age and device effects
    + a campaign's home-country lift + a site-topic match lift
    + the user's clickiness − fatigue · log(1 + the user's impressions earlier today),

and the conversion logit (given a click) likewise with its own weights and the user's
propensity to convert. Part of the truth is hidden from the features on purpose, as in real
traffic: the strength of an interest (features only see a segment, and only for most
users), and a user's clickiness and propensity, which the features only see through the
profile's counts (impressions, clicks and conversions over the last 30 days, drawn from
them) and only for users whose profile may be read (``profile_coverage``). So the
oracle's AUC is an upper bound a model should come close to, not reach.

Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bidding.features import NUMERIC_COLUMNS, RAW_COLUMNS, SEGMENT_SEPARATOR

__all__ = [
    "LABEL_COLUMNS",
    "TRUTH_COLUMNS",
    "World",
    "WorldSpec",
    "generate",
    "write_csv",
    "write_parquet_days",
]

LABEL_COLUMNS: Final = ("click", "conversion")
TRUTH_COLUMNS: Final = ("p_click", "p_conversion")
"""The true P(click) and P(conversion | click) of every row."""

TOPIC_CATS: Final = ("IAB1", "IAB2", "IAB3", "IAB8", "IAB9", "IAB17", "IAB19", "IAB20")
"""One IAB tier-1 category per latent topic (arts, autos, business, food, hobbies, sports,
tech, travel)."""
OTHER_SITE_CATS: Final = ("IAB12", "IAB14", "IAB15")
SIZES: Final = ((300, 250), (728, 90), (320, 50), (300, 600), (160, 600))
_SIZE_EFFECT: Final = (0.0, -0.35, -0.2, 0.25, -0.1)
COUNTRIES: Final = ("USA", "GBR", "DEU", "FRA", "BRA", "IND", "JPN", "CAN")
_COUNTRY_WEIGHT: Final = (0.35, 0.1, 0.1, 0.08, 0.1, 0.12, 0.07, 0.08)
_COUNTRY_OFFSET_MIN: Final = (-300, 0, 60, 60, -180, 330, 540, -300)
_DEVICES: Final = (2, 4, 5)  # AdCOM: personal computer, phone, tablet
_DEVICE_WEIGHT: Final = (0.4, 0.5, 0.1)
_DEVICE_CTR: Final = (0.0, 0.15, 0.05)
_DEVICE_CVR: Final = (0.3, -0.2, 0.0)
_OS_BY_DEVICE: Final = (("Windows", "macOS", "Linux"), ("iOS", "Android"), ("iOS", "Android"))
_AGE_CTR: Final = (0.2, 0.15, 0.1, 0.0, -0.1, -0.2, -0.3)  # by features.age_bucket
_AGE_CVR: Final = (-0.6, -0.2, 0.1, 0.2, 0.2, 0.1, 0.0)
_POS_EFFECT: Final = np.array([0.0, 0.2, 0.0, -0.25])  # by OpenRTB banner pos 0, 1, 3
_PROVIDER: Final = "synth"
_TYPICAL_LOG_IMPS: Final = 2.0
"""log(1 + impressions earlier today) of a typical row: fatigue is centred on it, so the
average click rate stays what it was before users tired."""


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """The size and the main knobs of a synthetic world."""

    users: int = 40_000
    sites: int = 150
    campaigns: int = 20
    max_creatives: int = 4
    interest_weight: float = 1.3
    """α: how strongly a user's interest in the creative's topic moves the click logit."""
    interest_spread: float = 0.2
    """Interest strengths are uniform in [1 − spread, 1 + spread]: the hidden part."""
    segment_coverage: float = 0.95
    """Chance that a user's interest is visible as a segment."""
    ctr_bias: float = -4.8
    cvr_bias: float = -3.4
    clickiness_spread: float = 0.5
    """Standard deviation of a user's hidden click-logit offset."""
    propensity_spread: float = 0.3
    """Standard deviation of a user's hidden conversion-logit offset."""
    fatigue: float = 0.15
    """How much each doubling (roughly) of a user's impressions today lowers the click logit."""
    daily_impressions: float = 12.0
    """A user of average activity's impressions per day (all campaigns)."""
    profile_coverage: float = 0.8
    """Chance that a user's profile may be read (consent); the others' counts are missing."""


@dataclass(frozen=True, slots=True)
class World:
    """A sampled world: who the users are, what the sites and creatives are."""

    spec: WorldSpec
    user_interest: NDArray[np.float64]  # (users, topics)
    user_activity: NDArray[np.float64]  # sampling weights, sum 1
    user_yob: NDArray[np.float64]
    user_gender: NDArray[Any]
    user_segments: NDArray[Any]
    user_country: NDArray[np.intp]
    user_device: NDArray[np.intp]
    user_os: NDArray[Any]
    user_clickiness: NDArray[np.float64]
    user_propensity: NDArray[np.float64]
    user_daily_imps: NDArray[np.float64]
    user_imps_30d: NDArray[np.float64]  # NaN: no readable profile
    user_clicks_30d: NDArray[np.float64]
    user_convs_30d: NDArray[np.float64]
    site_topic: NDArray[np.intp]  # -1: a category outside the topics
    site_cat: NDArray[Any]
    site_domain: NDArray[Any]
    site_is_app: NDArray[np.float64]
    site_pos: NDArray[np.float64]
    site_bias: NDArray[np.float64]
    site_weight: NDArray[np.float64]
    campaign_bias: NDArray[np.float64]
    campaign_cvr_bias: NDArray[np.float64]
    campaign_home: NDArray[np.intp]
    creative_campaign: NDArray[np.intp]
    creative_topic: NDArray[np.intp]
    creative_strength: NDArray[np.float64]
    creative_bias: NDArray[np.float64]
    creative_size: NDArray[np.intp]

    @classmethod
    def sample(cls, spec: WorldSpec, rng: np.random.Generator) -> "World":
        """Draw users, sites, campaigns and creatives."""
        topics = len(TOPIC_CATS)
        u = spec.users
        interest = np.zeros((u, topics))
        liked = rng.random((u, topics)) < 1.6 / topics
        spread = spec.interest_spread
        interest[liked] = rng.uniform(1.0 - spread, 1.0 + spread, liked.sum())
        seen = liked & (rng.random((u, topics)) < spec.segment_coverage)
        noise = rng.integers(0, 40, (u, 2))
        noisy = rng.random((u, 2)) < 0.5
        segments = np.empty(u, dtype=object)
        for i in range(u):
            ids = [f"{_PROVIDER}:topic-{k}" for k in np.flatnonzero(seen[i])]
            ids += [f"{_PROVIDER}:misc-{m}" for m, on in zip(noise[i], noisy[i], strict=True) if on]
            segments[i] = SEGMENT_SEPARATOR.join(ids) if ids else None
        yob = rng.integers(1950, 2008, u).astype(np.float64)
        yob[rng.random(u) < 0.3] = np.nan
        genders = np.array(["M", "F", "O", None], dtype=object)
        device = rng.choice(len(_DEVICES), u, p=_DEVICE_WEIGHT)
        os_names = np.empty(u, dtype=object)
        for d, names in enumerate(_OS_BY_DEVICE):
            mask = device == d
            os_names[mask] = rng.choice(np.array(names, dtype=object), mask.sum())

        s = spec.sites
        site_topic = rng.integers(0, topics, s)
        site_topic[rng.random(s) < 0.2] = -1
        is_app = (rng.random(s) < 0.3).astype(np.float64)
        cats = np.array(
            [
                TOPIC_CATS[t] if t >= 0 else OTHER_SITE_CATS[i % len(OTHER_SITE_CATS)]
                for i, t in enumerate(site_topic)
            ],
            dtype=object,
        )
        domains = np.array(
            [f"com.example.app{i}" if a else f"site{i}.example" for i, a in enumerate(is_app)],
            dtype=object,
        )
        site_weight = np.asarray(1.0 / np.arange(1, s + 1) ** 0.8, dtype=np.float64)
        c = spec.campaigns
        per_campaign = rng.integers(1, spec.max_creatives + 1, c)
        creative_campaign = np.repeat(np.arange(c), per_campaign)
        campaign_topic = rng.integers(0, topics, c)
        k = len(creative_campaign)
        creative_size = rng.integers(0, len(SIZES), k)
        creative_size[: len(SIZES)] = np.arange(len(SIZES))  # every size has a creative
        activity = _normalised(rng.lognormal(0.0, 1.0, u))
        # Drawn last, so a seed's world is the one it was before users had profiles.
        clickiness = rng.normal(0.0, spec.clickiness_spread, u)
        propensity = rng.normal(0.0, spec.propensity_spread, u)
        daily = np.clip(spec.daily_impressions * activity * u, 0.5, 20 * spec.daily_impressions)
        # The profile's counts: 30 days of this user's impressions at its own click rate.
        imps = rng.poisson(30 * daily)
        clicks = rng.binomial(imps, _sigmoid(spec.ctr_bias + 0.6 + clickiness))
        convs = rng.binomial(clicks, _sigmoid(spec.cvr_bias + 0.6 + propensity))
        readable = rng.random(u) < spec.profile_coverage
        return cls(
            spec=spec,
            user_interest=interest,
            user_activity=activity,
            user_yob=yob,
            user_gender=rng.choice(genders, u, p=[0.4, 0.4, 0.05, 0.15]),
            user_segments=segments,
            user_country=rng.choice(len(COUNTRIES), u, p=_COUNTRY_WEIGHT),
            user_device=device,
            user_os=os_names,
            user_clickiness=clickiness,
            user_propensity=propensity,
            user_daily_imps=daily,
            user_imps_30d=np.where(readable, imps, np.nan),
            user_clicks_30d=np.where(readable, clicks, np.nan),
            user_convs_30d=np.where(readable, convs, np.nan),
            site_topic=site_topic,
            site_cat=cats,
            site_domain=domains,
            site_is_app=is_app,
            site_pos=rng.choice(np.array([0.0, 1.0, 3.0]), s),
            site_bias=rng.normal(0.0, 0.25, s),
            site_weight=_normalised(site_weight[rng.permutation(s)]),
            campaign_bias=rng.normal(0.0, 0.3, c),
            campaign_cvr_bias=rng.normal(0.0, 0.4, c),
            campaign_home=rng.integers(0, len(COUNTRIES), c),
            creative_campaign=creative_campaign,
            creative_topic=campaign_topic[creative_campaign],
            creative_strength=rng.uniform(0.8, 1.2, k),
            creative_bias=rng.normal(0.0, 0.2, k),
            creative_size=creative_size,
        )


def _normalised(weights: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = weights / weights.sum()
    return out


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return out


def _creatives_by_size(
    world: World, size: NDArray[np.intp], rng: np.random.Generator
) -> NDArray[np.intp]:
    """A creative of the slot's size for every impression, uniformly (as an exploring bidder
    would show them: no selection bias in the labels)."""
    out = np.empty(len(size), dtype=np.intp)
    for s in range(len(SIZES)):
        rows = np.flatnonzero(size == s)
        pool = np.flatnonzero(world.creative_size == s)
        out[rows] = pool[rng.integers(0, len(pool), len(rows))]
    return out


def generate(
    world: World, rows: int, rng: np.random.Generator, *, start_s: int, days: float
) -> dict[str, NDArray[Any]]:
    """``rows`` impressions in time order over ``days`` from ``start_s`` (Unix seconds):
    the raw feature columns, ``click``, ``conversion``, the true probabilities, and the
    hidden user–creative ``affinity`` (for diagnostics; not written to CSV)."""
    ts = np.sort(rng.integers(start_s, start_s + int(days * 86400), rows)).astype(np.float64)
    user = rng.choice(len(world.user_activity), rows, p=world.user_activity)
    site = rng.choice(len(world.site_weight), rows, p=world.site_weight)
    size = rng.integers(0, len(SIZES), rows)
    creative = _creatives_by_size(world, size, rng)
    campaign = world.creative_campaign[creative]
    country = world.user_country[user]
    device = world.user_device[user]
    offset = np.asarray(_COUNTRY_OFFSET_MIN, dtype=np.float64)[country]
    local_s = ts + offset * 60.0
    hour = (local_s // 3600) % 24
    weekday = ((local_s // 86400) + 3) % 7
    yob = world.user_yob[user]
    year = ts.astype(np.int64).astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)
    age = np.searchsorted([18, 25, 35, 45, 55, 65], year + 1970 - yob, side="right")
    known_age = ~np.isnan(yob)
    creative_topic_all = world.creative_topic
    topic = creative_topic_all[creative]
    affinity = world.user_interest[user, topic] * world.creative_strength[creative]
    pos = world.site_pos[site]
    spec = world.spec
    # Impressions the user saw earlier today: its daily rate times the part of the day gone.
    imps_today = rng.poisson(world.user_daily_imps[user] * (ts % 86400) / 86400)

    click_logit = (
        spec.ctr_bias
        + spec.interest_weight * affinity
        + world.site_bias[site]
        + world.campaign_bias[campaign]
        + world.creative_bias[creative]
        + np.asarray(_SIZE_EFFECT)[size]
        + _POS_EFFECT[pos.astype(np.intp)]
        + 0.25 * np.sin(2 * math.pi * (hour - 15) / 24)
        + np.where(weekday >= 5, 0.1, 0.0)
        + np.where(known_age, np.asarray(_AGE_CTR)[np.minimum(age, 6)], 0.0)
        + np.asarray(_DEVICE_CTR)[device]
        + np.where(country == world.campaign_home[campaign], 0.4, 0.0)
        + np.where(world.site_topic[site] == topic, 0.3, 0.0)
        + world.user_clickiness[user]
        - spec.fatigue * (np.log1p(imps_today) - _TYPICAL_LOG_IMPS)
    )
    conversion_logit = (
        spec.cvr_bias
        + world.campaign_cvr_bias[campaign]
        + 0.8 * affinity
        + np.where(known_age, np.asarray(_AGE_CVR)[np.minimum(age, 6)], 0.0)
        + np.asarray(_DEVICE_CVR)[device]
        + world.user_propensity[user]
    )
    p_click = _sigmoid(click_logit)
    p_conversion = _sigmoid(conversion_logit)
    click = rng.random(rows) < p_click
    conversion = click & (rng.random(rows) < p_conversion)
    sizes = np.asarray(SIZES, dtype=np.float64)[size]
    creative_ids = np.array([f"cr-{i}" for i in range(len(creative_topic_all))], dtype=object)
    campaign_ids = np.array([f"cmp-{i}" for i in range(len(world.campaign_bias))], dtype=object)
    topic_cats = np.array(TOPIC_CATS, dtype=object)
    return {
        "ts": ts,
        "utcoffset": offset,
        "yob": yob,
        "gender": world.user_gender[user],
        "segments": world.user_segments[user],
        "devicetype": np.asarray(_DEVICES, dtype=np.float64)[device],
        "os": world.user_os[user],
        "country": np.array(COUNTRIES, dtype=object)[country],
        "site_cat": world.site_cat[site],
        "domain": world.site_domain[site],
        "is_app": world.site_is_app[site],
        "pos": pos,
        "user_imps_1d": np.where(np.isnan(world.user_imps_30d[user]), np.nan, imps_today),
        "user_imps_30d": world.user_imps_30d[user] + imps_today,  # today included
        "user_clicks_30d": world.user_clicks_30d[user],
        "user_convs_30d": world.user_convs_30d[user],
        "campaign_id": campaign_ids[campaign],
        "creative_id": creative_ids[creative],
        "ad_cat": topic_cats[topic],
        "w": sizes[:, 0],
        "h": sizes[:, 1],
        "click": click.astype(np.float64),
        "conversion": conversion.astype(np.float64),
        "p_click": p_click,
        "p_conversion": p_conversion,
        "affinity": affinity,
    }


_ALL_NUMERIC: Final = NUMERIC_COLUMNS | set(LABEL_COLUMNS) | set(TRUTH_COLUMNS)


def write_parquet_days(columns: dict[str, NDArray[Any]], directory: Path) -> list[Path]:
    """Write columns as a partitioned Parquet log, one part per UTC day of ``ts``
    (``day=YYYY-MM-DD/part.parquet``): what ``rtb train --input DIR`` reads, on one
    machine or a Dask cluster. Needs pyarrow (the ``train`` extra)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [n for n in (*RAW_COLUMNS, *LABEL_COLUMNS, *TRUTH_COLUMNS) if n in columns]
    day = np.floor(np.asarray(columns["ts"], np.float64) / 86_400).astype(np.int64)
    written = []
    for value in np.unique(day):
        rows = day == value
        date = np.datetime64(int(value), "D")
        path = directory / f"day={date}" / "part.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = {n: columns[n][rows] for n in names}
        schema = pa.schema([(n, pa.float64() if n in _ALL_NUMERIC else pa.string()) for n in names])
        pq.write_table(pa.table(table, schema=schema), path)
        written.append(path)
    return written


def write_csv(columns: dict[str, NDArray[Any]], path: Path) -> None:
    """Write columns as a CSV with a header; missing values are empty cells."""
    names = [n for n in (*RAW_COLUMNS, *LABEL_COLUMNS, *TRUTH_COLUMNS) if n in columns]
    cells = []
    for name in names:
        values = columns[name].tolist()
        if name in _ALL_NUMERIC:
            cells.append(["" if v != v else f"{v:.12g}" for v in values])
        else:
            cells.append(["" if v is None else str(v) for v in values])
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(names)
        writer.writerows(zip(*cells, strict=True))
