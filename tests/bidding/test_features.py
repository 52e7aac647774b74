"""The feature schema: stable hashes, request extraction, and train == serve vectors."""

import gc
import weakref
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.features import (
    FEATURE_NAMES,
    N_FEATURES,
    PROFILE_COLUMNS,
    SCHEMA_VERSION,
    AdBlock,
    AdKey,
    ContextFeatures,
    ContextValue,
    ProfileCounts,
    age_bucket,
    encode_columns,
    feature_matrix,
    one_row_columns,
    raw_context,
    stable_hash,
)
from openrtb.request import BidRequest
from tests.builders import banner_request

NOW_S = 1_750_000_000.0  # 2025-06-15T15:06:40Z, a Sunday


def _request(**user: Any) -> BidRequest:
    body = banner_request()
    body["user"].update(user)
    return BidRequest.model_validate(body)


ADS = (
    AdKey("cmp-1", "cr-1", "IAB1", 300, 250),
    AdKey("cmp-1", "cr-2", None, 300, 600),
    AdKey("cmp-2", "cr-3", "IAB19", 300, 250),
)


def _feature(row: np.ndarray[Any, Any], name: str) -> float:
    return float(row[FEATURE_NAMES.index(name)])


def test_schema_is_versioned_and_names_are_unique() -> None:
    assert SCHEMA_VERSION == 2
    assert len(set(FEATURE_NAMES)) == N_FEATURES == 119
    assert FEATURE_NAMES[:3] == ("user_age_bucket", "user_gender", "user_seg_count")


def test_hash_golden_values_are_stable_across_processes() -> None:
    # Changing these changes every model's inputs: bump SCHEMA_VERSION with them.
    assert stable_hash("USA", "country") == 3936100226
    assert stable_hash("news.example.com", "domain") == 2984398381
    assert stable_hash("dp1:s1", "segment") == 1095408130
    assert stable_hash("USA", "domain") != stable_hash("USA", "country")


def test_request_context_is_extracted() -> None:
    request = _request(yob=1985, gender="F", data=[{"id": "dp1", "segment": [{"id": "s1"}]}])
    raw = raw_context(request, request.imp[0], NOW_S)
    assert raw["segments"][0] == "dp1:s1"
    assert raw["country"][0] == "USA"
    assert raw["utcoffset"][0] == -300
    assert raw["domain"][0] == "news.example.com"
    row = feature_matrix(ContextFeatures.of(request, request.imp[0], NOW_S), ADS)[0]
    assert _feature(row, "user_age_bucket") == 3.0  # 40 in 2025: 35–44
    assert _feature(row, "user_gender") == 1.0
    assert _feature(row, "user_seg_count") == 1.0
    assert _feature(row, "ctx_hour") == 10.0  # 15:06 UTC at UTC−5
    assert _feature(row, "ctx_weekday") == 6.0
    assert _feature(row, "ctx_device_type") == 2.0
    assert _feature(row, "ctx_is_app") == 0.0
    assert _feature(row, "ctx_pos") == 1.0
    assert _feature(row, "ctx_country") == stable_hash("USA", "country") % 256
    assert _feature(row, "ctx_domain") == stable_hash("news.example.com", "domain") % 4096
    assert _feature(row, "ad_w") == 300.0


def test_missing_values_are_nan() -> None:
    body = banner_request()
    del body["device"], body["user"], body["site"]
    request = BidRequest.model_validate(body)
    matrix = feature_matrix(ContextFeatures.of(request, request.imp[0], NOW_S), ADS)
    for name in ("user_age_bucket", "user_gender", "ctx_country", "ctx_domain", "ctx_os"):
        assert np.isnan(_feature(matrix[0], name)), name
    assert _feature(matrix[0], "user_seg_count") == 0.0
    assert _feature(matrix[0], "ctx_hour") == 15.0  # no offset: UTC
    assert np.isnan(_feature(matrix[1], "ad_cat"))
    assert np.isnan(_feature(matrix[1], "x_seg_cat_00"))
    for name in PROFILE_COLUMNS:  # no profile read
        assert np.isnan(_feature(matrix[0], name)), name


def test_a_profile_adds_its_counts_and_an_empty_one_is_zeros_not_missing() -> None:
    request = _request(yob=1990)
    counts = ProfileCounts(imps_1d=4, imps_30d=90, clicks_30d=2, convs_30d=1)
    row = feature_matrix(ContextFeatures.of(request, request.imp[0], NOW_S, counts), ADS)[0]
    assert [_feature(row, name) for name in PROFILE_COLUMNS] == [4.0, 90.0, 2.0, 1.0]
    empty = ContextFeatures.of(request, request.imp[0], NOW_S, ProfileCounts(0, 0, 0, 0))
    assert _feature(feature_matrix(empty, ADS)[0], "user_clicks_30d") == 0.0
    # The cache keys the context by profile too: the same request, another user's counts.
    assert ContextFeatures.of(request, request.imp[0], NOW_S) is not empty


@pytest.mark.parametrize(
    ("yob", "expected"),
    [(2010.0, 0.0), (2003.0, 1.0), (2000.0, 2.0), (1960.0, 6.0), (2024.0, np.nan)],
)
def test_age_buckets(yob: float, expected: float) -> None:
    got = age_bucket(np.array([yob]), np.array([NOW_S]))[0]
    assert got == expected or (np.isnan(got) and np.isnan(expected))


def test_age_uses_the_utc_year_of_the_impression() -> None:
    """A birth year of 2000 is 24 (bucket 1) until the last second of 2024, 25 from 2025."""
    new_year = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    times = np.array([new_year - 1, new_year, new_year + 86_400 * 364, np.nan])
    got = age_bucket(np.full(4, 2000.0), times)
    assert got[:3].tolist() == [1.0, 2.0, 2.0]
    assert np.isnan(got[3])


def test_no_age_for_times_outside_the_year_table() -> None:
    """Before 1900 or after 2200 (a time in milliseconds by mistake): no age, not a guess."""
    millis = datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000
    got = age_bucket(np.array([1880.0, 2150.0, 1990.0]), np.array([-1e10, millis, np.inf]))
    assert np.isnan(got).all()


@pytest.mark.parametrize("profile", [None, ProfileCounts(7, 40, 3, 0)])
def test_train_and_serve_vectors_are_identical(profile: ProfileCounts | None) -> None:
    segments = [{"id": "s1"}, {"id": "s2"}, {"id": "s9"}]
    request = _request(yob=1990, gender="M", data=[{"id": "dp1", "segment": segments}])
    served = feature_matrix(ContextFeatures.of(request, request.imp[0], NOW_S, profile), ADS)

    # The same impression as logged rows of a training table (one row per ad).
    raw = raw_context(request, request.imp[0], NOW_S, profile)
    columns = {name: np.repeat(values, len(ADS)) for name, values in raw.items()}
    columns["campaign_id"] = np.array([a.campaign_id for a in ADS], dtype=object)
    columns["creative_id"] = np.array([a.creative_id for a in ADS], dtype=object)
    columns["ad_cat"] = np.array([a.cat for a in ADS], dtype=object)
    columns["w"] = np.array([a.w for a in ADS], dtype=np.float64)
    columns["h"] = np.array([a.h for a in ADS], dtype=np.float64)
    trained = encode_columns(columns)

    assert served.dtype == trained.dtype == np.float32
    np.testing.assert_array_equal(served, trained)  # NaNs compare equal here


def test_precomputed_ad_block_equals_ad_keys() -> None:
    request = _request(data=[{"id": "dp1", "segment": [{"id": "s1"}]}])
    context = ContextFeatures.of(request, request.imp[0], NOW_S)
    block = AdBlock.of(ADS)
    rows = np.array([2, 0], dtype=np.intp)
    np.testing.assert_array_equal(
        feature_matrix(context, block.take(rows)), feature_matrix(context, [ADS[2], ADS[0]])
    )


def test_context_rows_must_match_ads() -> None:
    columns = {"ts": np.array([NOW_S, NOW_S])}
    with pytest.raises(ValueError, match="context rows"):
        feature_matrix(ContextFeatures.from_columns(columns), ADS)


_TEXT = st.one_of(st.none(), st.just(""), st.sampled_from(["usa", "GBR", " deu ", "IAB1", "x"]))
_NUMBER = st.one_of(st.none(), st.integers(-5, 3000).map(float))


@settings(max_examples=300, deadline=None)
@given(
    ts=st.floats(-3e9, 8e9, allow_nan=False),
    utcoffset=st.one_of(st.none(), st.integers(-720, 840).map(float)),
    yob=_NUMBER,
    gender=st.one_of(st.none(), st.sampled_from(["M", "f", "O", "x", ""])),
    segments=st.one_of(
        st.none(),
        st.lists(st.sampled_from(["dp:1", "dp:2", " s ", "", "a:b"]), max_size=6).map("|".join),
    ),
    devicetype=_NUMBER,
    os=_TEXT,
    country=_TEXT,
    site_cat=_TEXT,
    domain=_TEXT,
    is_app=st.one_of(st.none(), st.sampled_from([0.0, 1.0])),
    pos=_NUMBER,
    **dict.fromkeys(PROFILE_COLUMNS, _NUMBER),
)
def test_the_one_row_path_encodes_exactly_as_the_columnar_one(**values: ContextValue) -> None:
    """Serving encodes one impression in plain Python; training encodes tables with numpy:
    both give the same numbers, NaNs and hashes for every input."""
    one = ContextFeatures.of_values(values)
    table = ContextFeatures.from_columns(one_row_columns(values))
    for name in ContextFeatures.__slots__:
        a, b = getattr(one, name), getattr(table, name)
        assert a.dtype == b.dtype, name
        assert a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_the_context_of_one_request_is_computed_once_for_all_routers() -> None:
    request = _request(yob=1990)
    first = ContextFeatures.of(request, request.imp[0], NOW_S)
    assert ContextFeatures.of(request, request.imp[0], NOW_S) is first
    other = _request(yob=1990)  # an equal request is another request
    assert ContextFeatures.of(other, other.imp[0], NOW_S) is not first
    later = ContextFeatures.of(request, request.imp[0], NOW_S + 3600)
    assert later is not first
    hour = FEATURE_NAMES.index("ctx_hour")
    assert later.block[0, hour] == (first.block[0, hour] + 1) % 24


def test_an_answered_request_is_not_kept_alive_by_the_context_cache() -> None:
    request = _request(yob=1990)
    first = ContextFeatures.of(request, request.imp[0], NOW_S)
    gone = weakref.ref(request)
    del request
    gc.collect()
    assert gone() is None
    again = _request(yob=1990)  # may even reuse the address: a dead entry matches nothing
    assert ContextFeatures.of(again, again.imp[0], NOW_S) is not first
