"""The one feature encoding shared by training and serving (schema ``SCHEMA_VERSION``).

A model is only as good as the agreement between the vectors it was trained on and the
vectors it is served, so there is exactly one implementation here: a columnar encoder over
*raw columns* (``RAW_COLUMNS``: the named inputs such as ``country`` or ``campaign_id``).
Training feeds it whole columns (a CSV of labelled impressions, the synthetic generator, a
public click log renamed to these columns); serving feeds it a one-row context built from
the bid request (``ContextFeatures.of``) and an ``AdBlock`` of candidate ads, and
``feature_matrix`` broadcasts the shared context over all candidates in one numpy step.
The request's raw inputs are read in one place, ``context_values``: serving encodes them and
the exchange logs them with each winning bid, so the event log trains on what was served.
The user's profile (``bidding.profiles``) adds its counts to them (``ProfileCounts``):
impressions today and over 30 days, clicks and conversions over 30 days; missing (NaN) where
no profile may be read, which the trees learn as their own branch.

High-cardinality values (ids, domains, segments, crosses) are hashed with a salted 32-bit
BLAKE2b digest — stable across processes and machines, unlike Python's ``hash()`` — into
fixed bucket counts. Hash buckets are plain numbers to XGBoost: trees split them by range,
which is cheaper to serve than categorical splits (measured about 2× per row) and good
enough with a few hundred trees. Missing values are NaN; XGBoost learns a default branch
for them.

Changing a feature, its order, a bucket count or a salt changes what a number means:
bump ``SCHEMA_VERSION``, and model files of the old version are refused at load.
"""

import bisect
import hashlib
import math
import weakref
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NamedTuple, TypeAlias

import numpy as np
from numpy.typing import NDArray

from openrtb.imp import Imp
from openrtb.request import BidRequest

__all__ = [
    "AD_COLUMNS",
    "CONTEXT_COLUMNS",
    "FEATURE_NAMES",
    "NUMERIC_COLUMNS",
    "N_FEATURES",
    "PROFILE_COLUMNS",
    "RAW_COLUMNS",
    "SCHEMA_VERSION",
    "AdBlock",
    "AdKey",
    "Columns",
    "ContextFeatures",
    "ContextValue",
    "FeatureMatrix",
    "ProfileCounts",
    "age_bucket",
    "context_values",
    "encode_columns",
    "feature_matrix",
    "mix_hashes",
    "one_row_columns",
    "raw_context",
    "stable_hash",
    "text_hashes",
]

FeatureMatrix: TypeAlias = NDArray[np.float32]
Columns: TypeAlias = Mapping[str, NDArray[Any]]
"""Raw columns by name: numbers as float arrays (NaN = missing), text as object arrays of
``str`` (``""`` or ``None`` = missing); ``segments`` holds ``|``-joined segment ids."""

ContextValue: TypeAlias = float | str | None
"""One raw context input as a plain scalar: a number, a text, or None when missing."""


_Hashes: TypeAlias = NDArray[np.uint64]
_Mask: TypeAlias = NDArray[np.bool_]

SCHEMA_VERSION: Final = 2

SEGMENT_BUCKETS: Final = 32
SEG_CAT_BUCKETS: Final = 64
ID_BUCKETS: Final = 4096
SMALL_BUCKETS: Final = 256
SEGMENT_SEPARATOR: Final = "|"


class ProfileCounts(NamedTuple):
    """What a user's profile adds to the features (``PROFILE_COLUMNS``): its counts over
    all campaigns, days in UTC, today included."""

    imps_1d: int
    imps_30d: int
    clicks_30d: int
    convs_30d: int


PROFILE_COLUMNS: Final = tuple(f"user_{name}" for name in ProfileCounts._fields)
"""The user's impressions today and in the last 30 days, clicks and conversions in the
last 30 days; a log without them trains with them missing, as for users without a
profile. The same names are raw columns and features (the trees take counts as they are)."""

_USER = (
    "user_age_bucket",
    "user_gender",
    "user_seg_count",
    *(f"user_seg_{i:02d}" for i in range(SEGMENT_BUCKETS)),
    *PROFILE_COLUMNS,
)
_CONTEXT = (
    "ctx_hour",
    "ctx_weekday",
    "ctx_device_type",
    "ctx_os",
    "ctx_country",
    "ctx_site_cat",
    "ctx_domain",
    "ctx_is_app",
    "ctx_pos",
)
_AD = ("ad_campaign", "ad_creative", "ad_cat", "ad_w", "ad_h")
_CROSS = (
    "x_country_campaign",
    "x_sitecat_adcat",
    *(f"x_seg_cat_{i:02d}" for i in range(SEG_CAT_BUCKETS)),
)
FEATURE_NAMES: Final[tuple[str, ...]] = (*_USER, *_CONTEXT, *_AD, *_CROSS)
"""The model's input columns, in order; stored in every model file and checked at load."""
N_FEATURES: Final = len(FEATURE_NAMES)

_CTX_WIDTH: Final = len(_USER) + len(_CONTEXT)
_AD_START: Final = _CTX_WIDTH
_CROSS_START: Final = _AD_START + len(_AD)
_SEG_START: Final = FEATURE_NAMES.index("user_seg_00")
_SEG_CAT_START: Final = FEATURE_NAMES.index("x_seg_cat_00")
_PROFILE_START: Final = FEATURE_NAMES.index(PROFILE_COLUMNS[0])

CONTEXT_COLUMNS: Final = (
    "ts",
    "utcoffset",
    "yob",
    "gender",
    "segments",
    "devicetype",
    "os",
    "country",
    "site_cat",
    "domain",
    "is_app",
    "pos",
    *PROFILE_COLUMNS,
)
"""Raw per-impression inputs: ``ts`` in Unix seconds, ``utcoffset`` in minutes (OpenRTB's
``geo.utcoffset``), ``yob``, ``gender`` (M/F/O), ``segments``, ``devicetype`` (AdCOM code),
``os``, ``country`` (ISO-3166-1 alpha-3 as in OpenRTB), ``site_cat`` (first IAB category of
the site or app), ``domain`` (site domain or app bundle), ``is_app`` (0/1), ``pos``, and the
``PROFILE_COLUMNS``."""
AD_COLUMNS: Final = ("campaign_id", "creative_id", "ad_cat", "w", "h")
RAW_COLUMNS: Final = (*CONTEXT_COLUMNS, *AD_COLUMNS)
NUMERIC_COLUMNS: Final = frozenset(
    {"ts", "utcoffset", "yob", "devicetype", "is_app", "pos", "w", "h", *PROFILE_COLUMNS}
)
"""The raw columns that are numbers; the others are text."""


_GENDERS: Final = {"M": 0.0, "F": 1.0, "O": 2.0}
_AGE_EDGES: Final = np.array([18, 25, 35, 45, 55, 65], dtype=np.float64)
"""Age bucket i holds ages in [edge[i-1], edge[i]): 0 is under 18, 6 is 65 and over."""

_FIRST_YEAR: Final = 1900
_YEAR_STARTS: Final = (
    np.arange(f"{_FIRST_YEAR}", "2202", dtype="datetime64[Y]")
    .astype("datetime64[s]")
    .astype(np.float64)
)
"""Unix time of 1 January of every year from 1900 to 2201 (UTC): ages are known for
impressions from 1900 to the end of 2200."""

_MIX_A: Final = np.uint64(0x9E3779B97F4A7C15)
_MIX_B: Final = np.uint64(0xBF58476D1CE4E5B9)
_MIX_C: Final = np.uint64(0x94D049BB133111EB)


@lru_cache(maxsize=1 << 16)
def stable_hash(value: str, field: str) -> int:
    """A 32-bit hash of ``value`` salted by ``field``, the same in every process.

    BLAKE2b's ``person`` parameter is the salt, so equal strings in different fields
    (a domain and a bundle, say) do not share buckets by construction.
    """
    digest = hashlib.blake2b(
        value.encode("utf-8"), digest_size=4, person=field.encode("ascii")[:16]
    ).digest()
    return int.from_bytes(digest, "little")


def mix_hashes(a: _Hashes, b: _Hashes) -> _Hashes:
    """Combine two hash arrays into one (a splitmix64 finaliser): the hash of a cross."""
    x = (a * _MIX_A) ^ b
    x = (x ^ (x >> np.uint64(30))) * _MIX_B
    x = (x ^ (x >> np.uint64(27))) * _MIX_C
    return x ^ (x >> np.uint64(31))


def _bucket(hashes: _Hashes, valid: _Mask, buckets: int) -> NDArray[np.float32]:
    out = (hashes % np.uint64(buckets)).astype(np.float32)
    out[~valid] = np.nan
    return out


def age_bucket(yob: NDArray[np.float64], ts: NDArray[np.float64]) -> NDArray[np.float32]:
    """Age bucket 0–6 from year of birth and the impression's UTC year; NaN when unknown or
    implausible (under 5 or over 110: typed-in junk, not an age)."""
    # The UTC year by lookup in the table of year starts; a time outside the table (or NaN)
    # has no year, hence no age.
    index = np.searchsorted(_YEAR_STARTS, ts, side="right")
    inside = (index > 0) & (index < len(_YEAR_STARTS)) & ~np.isnan(ts)
    age = np.where(inside, index + (_FIRST_YEAR - 1.0), np.nan) - yob
    out = np.searchsorted(_AGE_EDGES, age, side="right").astype(np.float32)
    out[np.isnan(age) | (age < 5) | (age > 110)] = np.nan
    return out


def text_hashes(values: NDArray[Any], field: str, normalise: str) -> tuple[_Hashes, _Mask]:
    """Hashes of a text column (each distinct value hashed once, after ``normalise``:
    ``lower``, ``upper`` or ``exact``, and stripped); invalid where missing."""
    table: dict[object, int] = {}
    hashes = np.zeros(len(values), dtype=np.uint64)
    valid = np.zeros(len(values), dtype=np.bool_)
    for i, value in enumerate(values.tolist()):
        if not value or not isinstance(value, str):
            continue
        code = table.get(value)
        if code is None:
            text = (
                value.lower()
                if normalise == "lower"
                else value.upper()
                if normalise == "upper"
                else value
            )
            code = table[value] = stable_hash(text.strip(), field)
        hashes[i] = code
        valid[i] = True
    return hashes, valid


def _segments(values: NDArray[Any]) -> tuple[_Hashes, _Mask]:
    """Segment hashes as an (n, width) array padded on the right, with a validity mask;
    each distinct segment string is parsed and hashed once."""
    rows: dict[Hashable, int] = {}
    table: list[list[int]] = []
    index = np.empty(len(values), dtype=np.intp)
    for i, value in enumerate(values.tolist()):
        slot = rows.get(value)
        if slot is None:
            ids = value.split(SEGMENT_SEPARATOR) if isinstance(value, str) else ()
            unique = sorted({stable_hash(s.strip(), "segment") for s in ids if s.strip()})
            slot = rows[value] = len(table)
            table.append(unique)
        index[i] = slot
    width = max((len(t) for t in table), default=0)
    hashes = np.zeros((len(table), width), dtype=np.uint64)
    valid = np.zeros((len(table), width), dtype=np.bool_)
    for slot, unique in enumerate(table):
        hashes[slot, : len(unique)] = unique
        valid[slot, : len(unique)] = True
    return hashes[index], valid[index]


def _number(columns: Columns, name: str, n: int) -> NDArray[np.float64]:
    values = columns.get(name)
    if values is None:
        return np.full(n, np.nan)
    return np.asarray(values, dtype=np.float64)


def _texts(columns: Columns, name: str, n: int) -> NDArray[Any]:
    values = columns.get(name)
    if values is None:
        return np.full(n, None, dtype=object)
    return np.asarray(values, dtype=object)


@dataclass(frozen=True, slots=True)
class ContextFeatures:
    """The user and context part of the feature rows of one or many impressions.

    ``block`` holds the user and context features (1 row when serving, n when training);
    the hashes are what the crosses in ``feature_matrix`` need from the context side.
    """

    block: FeatureMatrix
    country: _Hashes
    country_valid: _Mask
    site_cat: _Hashes
    site_cat_valid: _Mask
    segments: _Hashes
    segments_valid: _Mask

    @classmethod
    def of(
        cls, request: BidRequest, imp: Imp, now_s: float, profile: ProfileCounts | None = None
    ) -> "ContextFeatures":
        """The context of ``imp`` in ``request`` at ``now_s`` for a user with ``profile``
        (None: none may be read), computed once per request, imp and profile: every router
        and campaign that scores the same view of a request shares it (the exchange hands
        routers with the same privacy grant the same object)."""
        key = (imp.id, now_s, profile)
        cached = _LAST_CONTEXT.get(key)
        if cached is not None and cached[0]() is request:
            return cached[1]
        features = cls.of_values(context_values(request, imp, now_s, profile))
        if len(_LAST_CONTEXT) >= _CONTEXTS_KEPT:
            _LAST_CONTEXT.clear()
        _LAST_CONTEXT[key] = (weakref.ref(request), features)
        return features

    @classmethod
    def of_values(cls, values: Mapping[str, ContextValue]) -> "ContextFeatures":
        """One row from ``context_values``, in plain Python: on the few values of one
        impression numpy's per-call cost is most of the work. Gives exactly what
        ``from_columns`` gives on the same values as one-row columns (tested)."""
        row = [_NAN] * _CTX_WIDTH
        ts = _float(values.get("ts"))
        offset = _float(values.get("utcoffset"))
        shifted = ts + (0.0 if math.isnan(offset) else offset * 60.0)
        local_s = _NAN if math.isnan(shifted) else float(math.floor(shifted))
        row[0] = _age_bucket_one(_float(values.get("yob")), ts)
        gender = values.get("gender")
        row[1] = _GENDERS.get(gender.upper(), _NAN) if isinstance(gender, str) and gender else _NAN
        segments = values.get("segments")
        ids = segments.split(SEGMENT_SEPARATOR) if isinstance(segments, str) else ()
        unique = sorted({stable_hash(s.strip(), "segment") for s in ids if s.strip()})
        row[2] = float(len(unique))
        for i in range(SEGMENT_BUCKETS):
            row[_SEG_START + i] = 0.0
        for code in unique:
            row[_SEG_START + code % SEGMENT_BUCKETS] = 1.0
        c = len(_USER)
        row[c] = float((local_s // 3600) % 24) if not math.isnan(local_s) else _NAN
        row[c + 1] = float((local_s // 86400 + 3) % 7) if not math.isnan(local_s) else _NAN
        row[c + 2] = _float(values.get("devicetype"))
        row[c + 3] = _bucket_one(_hash_one(values.get("os"), "os", False), SMALL_BUCKETS)
        country = _hash_one(values.get("country"), "country", True)
        row[c + 4] = _bucket_one(country, SMALL_BUCKETS)
        site_cat = _hash_one(values.get("site_cat"), "category", True)
        row[c + 5] = _bucket_one(site_cat, SMALL_BUCKETS)
        row[c + 6] = _bucket_one(_hash_one(values.get("domain"), "domain", False), ID_BUCKETS)
        row[c + 7] = _float(values.get("is_app"))
        row[c + 8] = _float(values.get("pos"))
        for i, name in enumerate(PROFILE_COLUMNS):
            row[_PROFILE_START + i] = _float(values.get(name))
        return cls(
            np.array([row], dtype=np.float32),
            np.array([country or 0], dtype=np.uint64),
            np.array([country is not None]),
            np.array([site_cat or 0], dtype=np.uint64),
            np.array([site_cat is not None]),
            np.array([unique], dtype=np.uint64).reshape(1, len(unique)),
            np.ones((1, len(unique)), dtype=np.bool_),
        )

    @classmethod
    def from_columns(cls, columns: Columns) -> "ContextFeatures":
        """Encode the ``CONTEXT_COLUMNS`` of ``columns`` (all of the same length)."""
        n = len(next(iter(columns.values())))
        ts = _number(columns, "ts", n)
        offset = _number(columns, "utcoffset", n)
        offset_s = np.where(np.isnan(offset), 0.0, offset) * 60.0
        local_s = np.floor(ts + offset_s)
        block = np.zeros((n, _CTX_WIDTH), dtype=np.float32)
        block[:, 0] = age_bucket(_number(columns, "yob", n), ts)
        gender = _texts(columns, "gender", n).tolist()
        block[:, 1] = [_GENDERS.get(g.upper(), np.nan) if g else np.nan for g in gender]
        seg, seg_valid = _segments(_texts(columns, "segments", n))
        block[:, 2] = seg_valid.sum(axis=1)
        if seg.shape[1]:
            rows, slots = np.nonzero(seg_valid)
            cols = (seg[rows, slots] % np.uint64(SEGMENT_BUCKETS)).astype(np.intp)
            block[rows, _SEG_START + cols] = 1.0
        c = len(_USER)
        block[:, c] = np.floor_divide(local_s, 3600) % 24
        block[:, c + 1] = (np.floor_divide(local_s, 86400) + 3) % 7  # 1970-01-01: Thursday
        block[:, c + 2] = _number(columns, "devicetype", n)
        block[:, c + 3] = _bucket(
            *text_hashes(_texts(columns, "os", n), "os", "lower"), SMALL_BUCKETS
        )
        country, country_valid = text_hashes(_texts(columns, "country", n), "country", "upper")
        block[:, c + 4] = _bucket(country, country_valid, SMALL_BUCKETS)
        site_cat, site_cat_valid = text_hashes(_texts(columns, "site_cat", n), "category", "upper")
        block[:, c + 5] = _bucket(site_cat, site_cat_valid, SMALL_BUCKETS)
        domain = text_hashes(_texts(columns, "domain", n), "domain", "lower")
        block[:, c + 6] = _bucket(*domain, ID_BUCKETS)
        block[:, c + 7] = _number(columns, "is_app", n)
        block[:, c + 8] = _number(columns, "pos", n)
        for i, name in enumerate(PROFILE_COLUMNS):
            block[:, _PROFILE_START + i] = _number(columns, name, n)
        return cls(block, country, country_valid, site_cat, site_cat_valid, seg, seg_valid)


_NAN: Final = math.nan
_CONTEXTS_KEPT: Final = 64
"""Contexts of recent (imp, time) pairs kept for the routers of the same request; each
entry refers to its request, so an entry can only match the very object it was computed for.
The reference is weak: a request the exchange has answered is not kept alive by the cache
(a dead reference matches nothing, even if the address is reused)."""
_LAST_CONTEXT: dict[
    tuple[str, float, ProfileCounts | None], tuple[weakref.ref[BidRequest], "ContextFeatures"]
] = {}
_YEAR_START_LIST: Final = _YEAR_STARTS.tolist()
_AGE_EDGE_LIST: Final = _AGE_EDGES.tolist()


def _float(value: object) -> float:
    """A raw number as ``_number`` reads it: float64, NaN when missing."""
    return _NAN if value is None else float(value)  # type: ignore[arg-type]


def _hash_one(value: object, field: str, upper: bool) -> int | None:
    """A text value's hash as ``_text`` computes it; None when missing."""
    if not value or not isinstance(value, str):
        return None
    return stable_hash((value.upper() if upper else value.lower()).strip(), field)


def _bucket_one(code: int | None, buckets: int) -> float:
    return _NAN if code is None else float(code % buckets)


def _age_bucket_one(yob: float, ts: float) -> float:
    """``age_bucket`` of one impression."""
    if math.isnan(ts):
        return _NAN
    index = bisect.bisect_right(_YEAR_START_LIST, ts)
    if not 0 < index < len(_YEAR_START_LIST):
        return _NAN
    age = index + (_FIRST_YEAR - 1.0) - yob
    if math.isnan(age) or age < 5 or age > 110:
        return _NAN
    return float(bisect.bisect_right(_AGE_EDGE_LIST, age))


@dataclass(frozen=True, slots=True)
class AdKey:
    """A candidate ad: a campaign's creative with its first IAB category and its size."""

    campaign_id: str
    creative_id: str
    cat: str | None
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class AdBlock:
    """The ad part of the feature rows of many candidates, encoded once.

    A router builds one block for all the creatives it hosts at startup and ``take``s the
    candidates of each request (a numpy gather): hashing ids per request would cost
    microseconds per candidate.
    """

    block: FeatureMatrix
    campaign: _Hashes
    cat: _Hashes
    cat_valid: _Mask

    @classmethod
    def of(cls, ads: Sequence[AdKey]) -> "AdBlock":
        """Encode candidate ads (ids hashed through the shared cache)."""
        columns: dict[str, NDArray[Any]] = {
            "campaign_id": np.array([a.campaign_id for a in ads], dtype=object),
            "creative_id": np.array([a.creative_id for a in ads], dtype=object),
            "ad_cat": np.array([a.cat for a in ads], dtype=object),
            "w": np.array([a.w for a in ads], dtype=np.float64),
            "h": np.array([a.h for a in ads], dtype=np.float64),
        }
        return cls.from_columns(columns)

    @classmethod
    def from_columns(cls, columns: Columns) -> "AdBlock":
        """Encode the ``AD_COLUMNS`` of ``columns``."""
        n = len(next(iter(columns.values())))
        campaign, campaign_valid = text_hashes(
            _texts(columns, "campaign_id", n), "campaign", "lower"
        )
        creative = text_hashes(_texts(columns, "creative_id", n), "creative", "lower")
        cat, cat_valid = text_hashes(_texts(columns, "ad_cat", n), "category", "upper")
        block = np.empty((n, len(_AD)), dtype=np.float32)
        block[:, 0] = _bucket(campaign, campaign_valid, ID_BUCKETS)
        block[:, 1] = _bucket(*creative, ID_BUCKETS)
        block[:, 2] = _bucket(cat, cat_valid, SMALL_BUCKETS)
        block[:, 3] = _number(columns, "w", n)
        block[:, 4] = _number(columns, "h", n)
        campaign[~campaign_valid] = 0  # crosses with a missing campaign are NaN via block
        return cls(block, campaign, cat, cat_valid)

    def take(self, rows: NDArray[np.intp]) -> "AdBlock":
        """The candidates at ``rows`` (a numpy gather; no hashing)."""
        return AdBlock(self.block[rows], self.campaign[rows], self.cat[rows], self.cat_valid[rows])

    def __len__(self) -> int:
        return len(self.block)


def feature_matrix(context: ContextFeatures, ads: AdBlock | Sequence[AdKey]) -> FeatureMatrix:
    """The (n, N_FEATURES) float32 model input: context rows joined with ad rows.

    Serving passes a one-row context and N candidate ads (the context is broadcast);
    training passes n context rows and n ad rows. Both run this same code.
    """
    if not isinstance(ads, AdBlock):
        ads = AdBlock.of(ads)
    n = len(ads)
    if len(context.block) not in (1, n):
        raise ValueError(f"{len(context.block)} context rows for {n} ads: need 1 or {n}")
    out = np.empty((n, N_FEATURES), dtype=np.float32)
    out[:, :_CTX_WIDTH] = context.block
    out[:, _AD_START:_CROSS_START] = ads.block
    campaign_valid = ~np.isnan(ads.block[:, 0])
    out[:, _CROSS_START] = _bucket(
        mix_hashes(context.country, ads.campaign),
        context.country_valid & campaign_valid,
        ID_BUCKETS,
    )
    out[:, _CROSS_START + 1] = _bucket(
        mix_hashes(context.site_cat, ads.cat), context.site_cat_valid & ads.cat_valid, SMALL_BUCKETS
    )
    seg_cat = out[:, _SEG_CAT_START : _SEG_CAT_START + SEG_CAT_BUCKETS]
    seg_cat[:] = 0.0
    segments, valid = context.segments, context.segments_valid
    if segments.shape[1]:
        mixed = mix_hashes(segments, ads.cat[:, None]) % np.uint64(SEG_CAT_BUCKETS)
        every = np.empty(mixed.shape, np.bool_)
        every[:] = valid  # the context's segments for every candidate (a cheap broadcast)
        rows, slots = np.nonzero(every)
        seg_cat[rows, mixed[rows, slots].astype(np.intp)] = 1.0
    seg_cat[~ads.cat_valid] = np.nan
    return out


def encode_columns(columns: Columns) -> FeatureMatrix:
    """Feature rows for a table of raw columns (training, evaluation, replay)."""
    return feature_matrix(ContextFeatures.from_columns(columns), AdBlock.from_columns(columns))


def context_values(
    request: BidRequest, imp: Imp, now_s: float, profile: ProfileCounts | None = None
) -> dict[str, ContextValue]:
    """The ``CONTEXT_COLUMNS`` of one impression as plain scalars, in that order (the
    ``PROFILE_COLUMNS`` from ``profile``: None where no profile may be read).

    The one place a bid request becomes raw feature inputs: serving wraps these into
    one-row columns (``raw_context``), and the exchange logs the very same values with each
    winning bid so that training reads what serving saw (no numpy here: it runs on the
    request path). Offsets and countries come from ``device.geo`` first, then ``user.geo``;
    without an offset, hour and weekday are UTC. Segment ids are qualified by their
    provider's id (``provider:segment``) because providers' id spaces overlap.
    """
    device, user = request.device, request.user
    geos = [g for g in (device.geo if device else None, user.geo if user else None) if g]
    offset = next((g.utcoffset for g in geos if g.utcoffset is not None), None)
    country = next((g.country for g in geos if g.country), None)
    segments = []
    for data in (user.data if user else None) or ():
        for segment in data.segment or ():
            if segment.id:
                segments.append(f"{data.id}:{segment.id}" if data.id else segment.id)
    inventory = request.site or request.app
    cat = inventory.cat[0] if inventory and inventory.cat else None
    domain: str | None
    is_app: float | None
    if request.site is not None:
        domain, is_app = request.site.domain, 0.0
    elif request.app is not None:
        domain, is_app = request.app.bundle or request.app.domain, 1.0
    else:
        domain, is_app = None, None
    pos = imp.banner.pos if imp.banner else imp.video.pos if imp.video else None
    return {
        "ts": now_s,
        "utcoffset": offset,
        "yob": user.yob if user else None,
        "gender": user.gender if user else None,
        "segments": SEGMENT_SEPARATOR.join(segments) if segments else None,
        "devicetype": device.devicetype if device else None,
        "os": device.os if device else None,
        "country": country,
        "site_cat": cat,
        "domain": domain,
        "is_app": is_app,
        "pos": pos,
        **dict(
            zip(
                PROFILE_COLUMNS,
                (None,) * len(PROFILE_COLUMNS) if profile is None else profile,
                strict=True,
            )
        ),
    }


def raw_context(
    request: BidRequest, imp: Imp, now_s: float, profile: ProfileCounts | None = None
) -> dict[str, NDArray[Any]]:
    """The ``CONTEXT_COLUMNS`` of one impression as one-row columns (numbers as float64
    with NaN for missing, text as object): ``context_values`` in columnar form."""
    return one_row_columns(context_values(request, imp, now_s, profile))


def one_row_columns(values: Mapping[str, ContextValue]) -> dict[str, NDArray[Any]]:
    """Context values as one-row columns, as training reads a table."""
    columns: dict[str, NDArray[Any]] = {}
    for name, value in values.items():
        if name in NUMERIC_COLUMNS:
            columns[name] = np.array([np.nan if value is None else value], dtype=np.float64)
        else:
            columns[name] = np.array([value], dtype=object)
    return columns
