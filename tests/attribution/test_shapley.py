"""Shapley values: sampled beyond ``EXACT_UP_TO`` channels, within their stated error of the
exact enumeration; efficiency to the micro either way."""

import numpy as np
import pytest

from attribution.journeys import ConversionPath
from attribution.shapley import EXACT_UP_TO, FORMS, Form, shapley

CHANNELS = [f"c{i:02d}" for i in range(EXACT_UP_TO + 2)]


def _paths(seed: int) -> list[ConversionPath]:
    """300 paths over 14 channels, a third of them not converting; some channels help."""
    rng = np.random.default_rng(seed)
    paths = []
    for n in range(300):
        touched = rng.choice(CHANNELS, size=int(rng.integers(1, 5)), replace=True)
        good = sum(int(c[1:]) % 3 == 0 for c in touched)
        value = 0 if rng.random() < 0.33 else int(rng.integers(1, 50) + 40 * good) * 1_000_000
        paths.append(ConversionPath(str(n), 10.0, value, tuple((1.0, c) for c in touched)))
    return paths


@pytest.mark.parametrize("form", FORMS)
def test_sampled_values_are_within_their_error_of_the_exact_ones(form: Form) -> None:
    paths = _paths(7)
    exact = shapley(paths, form, exact_up_to=len(CHANNELS))
    sampled = shapley(paths, form, permutations=3_000, seed=3)
    assert exact.std_error is None
    assert sampled.std_error is not None
    assert sampled.permutations == 3_000
    assert sampled.channels == exact.channels == tuple(CHANNELS)
    z = (sampled.values - exact.values) / sampled.std_error
    assert np.all(np.abs(z) < 4.5), z
    whole = sum(p.value_micros for p in paths)
    for values in (exact.values, sampled.values):  # efficiency: v(all) = the paths' value
        assert values.sum() == pytest.approx(whole, rel=1e-12)


def test_the_rate_form_gives_a_channel_that_converts_less_a_negative_value() -> None:
    """A's only solo journey never converts, and A's journeys convert less than B's."""
    paths = [
        ConversionPath("1", 1.0, 0, ((0.0, "A"),)),
        ConversionPath("2", 1.0, 0, ((0.0, "A"), (0.5, "B"))),
        ConversionPath("3", 1.0, 10, ((0.0, "B"),)),
    ]
    values = shapley(paths, "rate")
    by_channel = dict(zip(values.channels, values.values, strict=True))
    # v(A) = 0, v(B) = 3 × 10/1 = 30, v(AB) = 3 × 10/3 = 10: φ_A = (0 + 10 − 30)/2 = −10
    assert by_channel == pytest.approx({"A": -10.0, "B": 20.0})


def test_sampling_repeats_with_its_seed() -> None:
    paths = _paths(1)
    first = shapley(paths, permutations=200, seed=5)
    again = shapley(paths, permutations=200, seed=5)
    other = shapley(paths, permutations=200, seed=6)
    assert np.array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)


def test_sampling_needs_two_permutations_for_its_error() -> None:
    with pytest.raises(ValueError, match="at least 2 permutations"):
        shapley(_paths(1), permutations=1)
