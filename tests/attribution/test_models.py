"""The models against worked examples computed by hand, and their sums to the micro.

The journeys of ``JOURNEYS`` (days from the first touch; values in currency units):

* a: search d0, search d1, social d2, converts d3 for 90
* b: social d0, email d1, converts d1.5 for 60
* c: email d0, converts d4 for 30
* d: search d0, never converts

By hand: last click gives a's 90 to social, b's 60 and c's 30 to email; first click a's to
search, b's to social, c's to email; linear a's 90 as 30 per touch (search twice: 60,
social 30), b's 30 + 30, c's 30; position based a's 40 % + 20 % to search (54) and 40 % to
social (36), b's 50/50 (two touches), c's all. Shapley, subset form: a's 90 halves between
its two channels whatever the touches, so search gets 45 where linear gives it 60 (its
repeated touch counts once), b's halves, c's is email's. Shapley, rate form (d counts):
computed over the eight coalitions in ``test_shapley_rate_form_by_hand``.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.journeys import Conversion, ConversionPath, Journeys, Touch
from attribution.rules import apportion, rule_credits
from attribution.run import MODELS, Options, attribute
from attribution.shapley import shapley

DAY = 86_400.0
M = 1_000_000


def _journeys(rows: list[tuple[str, float, str | int]]) -> Journeys:
    """Rows of (journey, day, channel) for touches and (journey, day, value micros)."""
    touches = tuple(Touch(j, d * DAY, c) for j, d, c in rows if isinstance(c, str))
    conversions = tuple(Conversion(j, d * DAY, c) for j, d, c in rows if isinstance(c, int))
    return Journeys(touches, conversions, "test")


JOURNEYS = _journeys(
    [
        ("a", 0, "search"),
        ("a", 1, "search"),
        ("a", 2, "social"),
        ("a", 3, 90 * M),
        ("b", 0, "social"),
        ("b", 1, "email"),
        ("b", 1.5, 60 * M),
        ("c", 0, "email"),
        ("c", 4, 30 * M),
        ("d", 0, "search"),
    ]
)

BY_HAND = {
    "last_click": {"email": 90, "search": 0, "social": 90},
    "first_click": {"email": 30, "search": 90, "social": 60},
    "linear": {"email": 60, "search": 60, "social": 60},
    "position": {"email": 60, "search": 54, "social": 66},
    "shapley": {"email": 60, "search": 45, "social": 75},
}


@pytest.mark.parametrize("model", sorted(BY_HAND))
def test_each_model_matches_the_worked_example(model: str) -> None:
    result = attribute(JOURNEYS)
    assert result.credits[model] == {c: v * M for c, v in BY_HAND[model].items()}


def test_shapley_differs_from_linear_where_a_channel_repeats() -> None:
    result = attribute(JOURNEYS)
    assert result.credits["linear"]["search"] == 60 * M
    assert result.credits["shapley"]["search"] == 45 * M
    assert result.shapley.std_error is None  # three channels: exact


def test_shapley_rate_form_by_hand() -> None:
    """P = 4 paths; v(S) = 4 × value ÷ paths within S. With A = search, B = social,
    C = email: v(A) = 4 × 0/1 = 0 (d), v(B) = 0 (no path), v(C) = 4 × 30/1 = 120,
    v(AB) = 4 × 90/2 = 180 (a, d), v(AC) = 4 × 30/2 = 60 (c, d), v(BC) = 4 × 90/2 = 180
    (b, c), v(ABC) = 4 × 180/4 = 180. φ_A = v(A)/3 + (v(AB) − v(B))/6 + (v(AC) − v(C))/6
    + (v(ABC) − v(BC))/3 = 0 + 30 − 10 + 0 = 20; φ_B = 0 + 30 + 10 + 40 = 80;
    φ_C = 180 − 20 − 80 = 80. Search loses: the journey that only saw it never converted."""
    result = attribute(JOURNEYS, Options(shapley_form="rate"))
    assert result.credits["shapley"] == {"email": 80 * M, "search": 20 * M, "social": 80 * M}


def test_the_rate_form_needs_journeys_that_did_not_convert() -> None:
    converting_only = Journeys(
        tuple(t for t in JOURNEYS.touches if t.journey_id != "d"), JOURNEYS.conversions, "t"
    )
    with pytest.raises(ValueError, match="journeys without a conversion"):
        attribute(converting_only, Options(shapley_form="rate"))


def test_time_decay_halves_with_each_half_life() -> None:
    """Half-life one day, conversion at day 2 worth 70: touches at days 0, 1, 2 weigh
    1/4, 1/2, 1 (of 7/4): 10, 20 and 40."""
    journeys = _journeys([("j", 0, "A"), ("j", 1, "B"), ("j", 2, "C"), ("j", 2, 70 * M)])
    result = attribute(journeys, Options(half_life_days=1.0))
    assert result.credits["time_decay"] == {"A": 10 * M, "B": 20 * M, "C": 40 * M}


def test_lookback_gives_old_touches_nothing_and_rounds_to_the_micro() -> None:
    """With a 1.5-day window the day-0 touch is out: B weighs 1/2 and C 1 of 70, so
    23,333,333.33 and 46,666,666.67 micros; the micro left over goes to the larger
    remainder (C)."""
    journeys = _journeys([("j", 0, "A"), ("j", 1, "B"), ("j", 2, "C"), ("j", 2, 70 * M)])
    result = attribute(journeys, Options(half_life_days=1.0, lookback_days=1.5))
    assert result.credits["time_decay"] == {"B": 23_333_333, "C": 46_666_667}
    assert result.credits["first_click"] == {"B": 70 * M, "C": 0}
    assert "A" not in result.channels


def test_a_conversion_without_a_touch_in_its_window_is_unattributed() -> None:
    journeys = _journeys(
        [("j", 0, "A"), ("j", 40, 5 * M), ("k", 1, "B"), ("k", 2, 7 * M), ("k", 3, "A")]
    )
    result = attribute(journeys)  # 30 days: j's touch is too old; k's last touch came after
    assert result.value_micros == 12 * M
    assert result.unattributed_micros == 5 * M
    for model in MODELS:
        assert result.credits[model] == {"B": 7 * M}  # A is on no path: no channel


def test_apportion_gives_the_leftover_to_the_largest_remainders() -> None:
    assert apportion([1 / 3, 1 / 3, 1 / 3], 1) == [1, 0, 0]  # ties: the earlier
    assert apportion([2.5, 2.5, 5.0], 10) == [3, 2, 5]
    assert apportion([-1.5, 11.5], 10) == [-1, 11]
    assert apportion([], 0) == []


def test_position_based_splits_40_20_40() -> None:
    path = ConversionPath(
        "j", 5.0, 100 * M, ((1.0, "A"), (2.0, "B"), (3.0, "C"), (4.0, "B"), (5.0, "D"))
    )
    credits = rule_credits(path, "position", 1.0)  # B 2 × 20/3 = 13.33, C 6.67: C rounds up
    assert credits == {"A": 40 * M, "B": 13_333_333, "C": 6_666_667, "D": 40 * M}


# random journeys: up to 6 channels, touches and conversions over ten days
_rows = st.lists(
    st.tuples(
        st.sampled_from("abcde"),
        st.floats(0, 10),
        st.one_of(st.sampled_from("ABCDEF"), st.integers(0, 10**9)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(rows=_rows, lookback=st.floats(0, 12), half_life=st.floats(0.01, 30))
def test_every_model_credits_exactly_the_attributed_value(
    rows: list[tuple[str, float, str | int]], lookback: float, half_life: float
) -> None:
    result = attribute(_journeys(rows), Options(lookback_days=lookback, half_life_days=half_life))
    attributed = result.value_micros - result.unattributed_micros
    for model in MODELS:
        credits = result.credits[model]
        assert sum(credits.values()) == attributed, model
        assert all(isinstance(v, int) for v in credits.values())
        if model != "shapley":
            assert min(credits.values(), default=0) >= 0
    assert result.value_micros == sum(c for _, _, c in rows if isinstance(c, int))


@settings(max_examples=60, deadline=None)
@given(rows=_rows)
def test_subset_shapley_is_value_over_distinct_channels(
    rows: list[tuple[str, float, str | int]],
) -> None:
    """The subset game is a sum of unanimity games, one per path (Zhao et al. 2018): the
    enumeration over every coalition gives each path's value ÷ its distinct channels."""
    from attribution.journeys import paths

    converting, _ = paths(_journeys(rows), 30 * DAY)
    expected: dict[str, float] = {}
    for path in converting:
        channels = {c for _, c in path.touches}
        for c in channels:
            expected[c] = expected.get(c, 0.0) + path.value_micros / len(channels)
    values = shapley([p for p in converting if p.touches])
    got = dict(zip(values.channels, values.values, strict=True))
    assert set(got) == set(expected)
    for channel, value in expected.items():
        assert math.isclose(got[channel], value, rel_tol=1e-9, abs_tol=1e-3)
