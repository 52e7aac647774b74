"""The experiment statistics against hand-worked figures and against simulated traffic whose
truth is known: a test valid under repeated looks keeps its false positives near α, where
the peeked z-test does not, and finds a real effect."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from experiments.stats import (
    Estimate,
    mixing_variance,
    msprt_ratio,
    ratio,
    sample_size,
    sequential_test,
)

ALPHA = 0.05
LOOKS = 20
PER_LOOK = 2_000
BASE_CTR = 0.02


def test_a_ratio_and_its_delta_method_variance_by_hand() -> None:
    got = ratio(np.array([1.0, 0.0, 2.0]), np.array([1.0, 1.0, 2.0]))
    # R = 3/4; linearised units (x − R·y) ÷ ȳ = (0.25, −0.75, 0.5) ÷ 4/3 = (0.1875, −0.5625,
    # 0.375); their sample variance 0.4921875 / 2, and the estimate's a third of that.
    assert got.value == 0.75
    assert got.unit_variance == pytest.approx(0.24609375)
    assert got.variance == pytest.approx(0.08203125)
    assert math.isnan(ratio(np.array([1.0, 2.0]), np.zeros(2)).value)


def test_no_difference_is_no_evidence_and_a_large_one_is() -> None:
    v, tau2 = 1e-6, 4e-6
    assert msprt_ratio(0.0, v, tau2) == pytest.approx(math.sqrt(v / (v + tau2)))
    assert msprt_ratio(0.01, v, tau2) > 1 / ALPHA  # ten standard errors
    assert msprt_ratio(0.01, v, tau2, delta=0.01) < 1


def _arms(rng: np.random.Generator, lift: float) -> tuple[np.ndarray, np.ndarray]:
    n = LOOKS * PER_LOOK
    control = (rng.random(n) < BASE_CTR).astype(np.float64)
    treatment = (rng.random(n) < BASE_CTR * (1 + lift)).astype(np.float64)
    return control, treatment


def _peeks(control: np.ndarray, treatment: np.ndarray) -> list[tuple[Estimate, Estimate]]:
    ones = np.ones(len(control))
    return [
        (ratio(control[:k], ones[:k]), ratio(treatment[:k], ones[:k]))
        for k in range(PER_LOOK, len(control) + 1, PER_LOOK)
    ]


def _z_peeked(looks: list[tuple[Estimate, Estimate]]) -> bool:
    """A fixed-horizon z-test looked at after every batch: rejects at the first |z| > 1.96."""
    z = norm.ppf(1 - ALPHA / 2)
    return any(
        abs(t.value - c.value) > z * math.sqrt(t.variance + c.variance)
        for c, t in looks
        if t.variance + c.variance > 0
    )


def test_repeated_looks_keep_false_positives_near_alpha_where_a_peeked_z_test_does_not() -> None:
    tau2 = mixing_variance(BASE_CTR, 0.1)
    seeds = 300
    sequential = peeked = 0
    for seed in range(seeds):
        looks = _peeks(*_arms(np.random.default_rng(seed), 0.0))
        sequential += sequential_test(looks, ALPHA, tau2).rejected
        peeked += _z_peeked(looks)
    standard_error = math.sqrt(ALPHA * (1 - ALPHA) / seeds)
    assert sequential / seeds <= ALPHA + 2 * standard_error
    assert peeked / seeds > 2 * ALPHA  # what the sequential test is for


def test_a_real_lift_is_found_and_its_interval_covers_it() -> None:
    tau2 = mixing_variance(BASE_CTR, 0.1)
    found = covered = 0
    seeds = 60
    for seed in range(seeds):
        test = sequential_test(_peeks(*_arms(np.random.default_rng(1000 + seed), 0.3)), ALPHA, tau2)
        found += test.rejected
        low, high = test.looks[-1].interval
        covered += low <= BASE_CTR * 0.3 <= high
    assert found / seeds > 0.9
    assert covered / seeds >= 0.9


def test_the_sample_size_gives_the_power_it_promises() -> None:
    unit_variance = BASE_CTR * (1 - BASE_CTR)
    n = sample_size(unit_variance, BASE_CTR, 0.2, ALPHA, 0.8)
    # The textbook two-proportion figure: 2·p(1−p)·(1.96 + 0.8416)² ÷ (0.2·p)².
    assert n == pytest.approx(2 * 0.0196 * (1.959964 + 0.841621) ** 2 / 0.004**2, rel=1e-4)
    rng = np.random.default_rng(9)
    seeds = 300
    hits = 0
    for _ in range(seeds):
        control = (rng.random(n) < BASE_CTR).astype(np.float64)
        treatment = (rng.random(n) < BASE_CTR * 1.2).astype(np.float64)
        ones = np.ones(n)
        a, b = ratio(control, ones), ratio(treatment, ones)
        hits += abs(b.value - a.value) > 1.959964 * math.sqrt(a.variance + b.variance)
    assert hits / seeds == pytest.approx(0.8, abs=0.07)
    assert sample_size(0.0, BASE_CTR, 0.2, ALPHA, 0.8) == 0
