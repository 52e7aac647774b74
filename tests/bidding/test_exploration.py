"""Thompson sampling: posteriors from counts, one draw per creative, bidding on the mean, and
convergence to the better creative in a simulated bandit."""

import numpy as np
import pytest

from bidding.exploration import (
    BetaPrior,
    Counts,
    MemoryCreativeStats,
    choose_creative,
    posterior,
    thompson,
)


def test_posterior_adds_clicks_and_misses() -> None:
    assert posterior(BetaPrior(1, 99), Counts(1000, 30)) == BetaPrior(31, 1069)
    assert posterior(BetaPrior(1, 1), Counts(2, 5)) == BetaPrior(6, 1)  # late impressions
    assert BetaPrior.weak(0.002).mean == pytest.approx(0.002)
    assert BetaPrior.weak(0.002).alpha + BetaPrior.weak(0.002).beta == pytest.approx(100)
    with pytest.raises(ValueError, match="positive"):
        BetaPrior(0, 1)


async def test_memory_stats_answer_all_keys_in_one_call() -> None:
    stats = MemoryCreativeStats()
    stats.record("c", "a", impressions=10, clicks=1)
    stats.record("c", "a", impressions=5)
    assert await stats.counts([("c", "a"), ("c", "b")]) == [Counts(15, 1), Counts(0, 0)]


def test_the_choice_is_the_largest_draw_and_the_bid_uses_the_mean() -> None:
    rng = np.random.default_rng(1)
    priors = [BetaPrior(1, 999), BetaPrior(1, 999)]
    choice = choose_creative(priors, [Counts(10_000, 10), Counts(10_000, 500)], rng)
    assert choice.position == 1
    assert choice.posterior_mean == pytest.approx(501 / 11_000)
    assert choice.sample != choice.posterior_mean
    with pytest.raises(ValueError, match="at least one"):
        choose_creative([], [], rng)


def test_batched_choice_per_campaign() -> None:
    # Three campaigns (2, 1 and 3 creatives); sharp posteriors make the answer certain.
    alpha = [10, 90_000, 5, 100, 50_000, 1]
    beta = [90_000, 10, 5, 99_900, 50_000, 99_999]
    choices = thompson(alpha, beta, [0, 2, 3], np.random.default_rng(2))
    assert choices.position.tolist() == [1, 2, 4]
    assert choices.posterior_mean.tolist() == pytest.approx([90_000 / 90_010, 0.5, 0.5])
    assert ((choices.sample > 0) & (choices.sample < 1)).all()


def test_thompson_sampling_converges_to_the_better_creative() -> None:
    """A simulated bandit: three creatives with true CTRs 2 %, 3 % and 5 %."""
    rng = np.random.default_rng(20240601)
    true_ctr = [0.02, 0.03, 0.05]
    ids = ["weak", "mid", "best"]
    stats = MemoryCreativeStats()
    priors = [BetaPrior.weak(0.03, strength=10)] * 3
    pulls = [0, 0, 0]
    late_pulls = [0, 0, 0]
    rounds = 20_000
    for n in range(rounds):
        counts = stats.snapshot([("c", i) for i in ids])
        choice = choose_creative(priors, counts, rng)
        clicked = int(rng.random() < true_ctr[choice.position])
        stats.record("c", ids[choice.position], impressions=1, clicks=clicked)
        pulls[choice.position] += 1
        if n >= rounds // 2:
            late_pulls[choice.position] += 1
    # With this seed the best arm gets 99 % of the second half (95–100 % over seeds 0–14):
    # under 85 % is a regression, not noise. The seed is fixed, so the test cannot flake.
    assert late_pulls[2] / (rounds // 2) > 0.85
    assert min(pulls) > 100  # every creative was explored
    best = posterior(priors[2], stats.snapshot([("c", "best")])[0])
    assert best.mean == pytest.approx(0.05, abs=0.006)
