"""Thompson sampling: posteriors from counts, one draw per creative, bidding on the mean,
convergence to the better creative in a simulated bandit, and the scalar and vectorised
paths drawing the same (creatives, and pacing's participation draws)."""

from typing import cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.campaigns import Campaign, Creative
from bidding.creative_choice import choose_creatives
from bidding.exploration import (
    BERNOULLI_VECTOR_MIN,
    THOMPSON_VECTOR_MIN,
    BetaPrior,
    Counts,
    MemoryCreativeStats,
    bernoulli,
    bernoulli_scalar,
    bernoulli_vector,
    choose_creative,
    posterior,
    thompson,
    thompson_positions,
    thompson_scalar,
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


beliefs = st.floats(min_value=1e-3, max_value=1e6)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2 * THOMPSON_VECTOR_MIN), st.data(), st.integers(0, 2**32))
def test_scalar_and_vectorised_sampling_draw_the_same_and_choose_the_same(
    n: int, data: st.DataObject, seed: int
) -> None:
    """From the same generator state both paths draw the same values (one stream, element
    after element), so they choose the same creatives and leave the generator in the same
    state, at sizes on both sides of the threshold."""
    alpha = data.draw(st.lists(beliefs, min_size=n, max_size=n))
    beta = data.draw(st.lists(beliefs, min_size=n, max_size=n))
    cuts = data.draw(st.sets(st.integers(1, n - 1), max_size=n // 2)) if n > 1 else set()
    starts = [0, *sorted(cuts)]
    vector_rng, scalar_rng, chosen_rng = (np.random.default_rng(seed) for _ in range(3))
    vector = thompson(alpha, beta, starts, vector_rng).position.tolist()
    assert thompson_scalar(alpha, beta, starts, scalar_rng) == vector
    assert thompson_positions(alpha, beta, starts, chosen_rng) == vector
    state = vector_rng.bit_generator.state
    assert scalar_rng.bit_generator.state == chosen_rng.bit_generator.state == state


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 2 * THOMPSON_VECTOR_MIN), st.data(), st.integers(0, 2**32))
def test_one_campaigns_choice_is_the_batched_choice(n: int, data: st.DataObject, seed: int) -> None:
    priors = data.draw(st.lists(st.builds(BetaPrior, beliefs, beliefs), min_size=n, max_size=n))
    counts = [Counts(0, 0)] * n
    choice = choose_creative(priors, counts, np.random.default_rng(seed))
    alpha, beta = [p.alpha for p in priors], [p.beta for p in priors]
    batched = thompson(alpha, beta, [0], np.random.default_rng(seed))
    assert choice.position == int(batched.position[0])
    assert choice.sample == float(batched.sample[0])
    assert choice.posterior_mean == priors[choice.position].mean


class FixedDraws:
    """A stand-in generator whose Beta draws are given: ties on purpose."""

    def __init__(self, draws: list[float]) -> None:
        self._draws = iter(draws)

    def beta(self, a: object, b: object) -> object:
        if isinstance(a, np.ndarray):
            return np.array([next(self._draws) for _ in range(a.size)])
        return next(self._draws)


def test_both_paths_break_ties_on_the_first_creative() -> None:
    draws = [0.5, 0.5, 0.2, 0.1, 0.7, 0.7, 0.3, 0.3, 0.3]
    alpha = beta = [1.0] * len(draws)
    starts = [0, 3, 6, 8]
    vector = thompson(alpha, beta, starts, cast(np.random.Generator, FixedDraws(draws)))
    scalar = thompson_scalar(alpha, beta, starts, cast(np.random.Generator, FixedDraws(draws)))
    assert scalar == vector.position.tolist() == [0, 4, 6, 8]


@pytest.mark.parametrize("campaigns", [1, 5, THOMPSON_VECTOR_MIN // 3, THOMPSON_VECTOR_MIN])
def test_a_requests_creatives_are_those_of_one_batched_draw(campaigns: int) -> None:
    """``choose_creatives`` (either path, by size) chooses what one vectorised draw over the
    posteriors chooses; campaigns with one eligible creative draw nothing."""
    stats = MemoryCreativeStats()
    choices = []
    for i in range(campaigns):
        creatives = tuple(
            Creative(f"cr{k}", 300, 250, "<img>", ("a.example",), ("IAB1",)) for k in range(3)
        )
        campaign = Campaign(f"c{i}", "adv", "seat", 1_000_000, 10**8, "UTC", creatives)
        for k in range(3):
            stats.record(campaign.id, f"cr{k}", impressions=100 * (i + k), clicks=i % 4 + k)
        eligible = (0,) if i % 4 == 3 else (2, 0, 1)
        choices.append((campaign, eligible))
    chosen = choose_creatives(choices, stats, np.random.default_rng(11))
    alpha, beta, starts, multi = [], [], [], []
    for i, (campaign, eligible) in enumerate(choices):
        if len(eligible) == 1:
            continue
        multi.append(i)
        starts.append(len(alpha))
        for k in eligible:
            counts = stats.snapshot([(campaign.id, campaign.creatives[k].id)])[0]
            belief = posterior(campaign.ctr_prior(campaign.creatives[k]), counts)
            alpha.append(belief.alpha)
            beta.append(belief.beta)
    expected = [eligible[0] for _, eligible in choices]
    picks = thompson(alpha, beta, starts, np.random.default_rng(11)).position.tolist()
    for group, i in enumerate(multi):
        expected[i] = choices[i][1][picks[group] - starts[group]]
    assert chosen == expected


def router_participation(probabilities: list[float], rng: np.random.Generator) -> list[bool]:
    """How ``CampaignRouter._slots`` draws today: a scalar draw per paced candidate."""
    return [not (p < 1.0 and rng.random() >= p) for p in probabilities]


chances = st.one_of(
    st.just(1.0),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(chances, max_size=4 * BERNOULLI_VECTOR_MIN), st.integers(0, 2**32))
def test_scalar_and_vectorised_participation_draw_the_same(
    probabilities: list[float], seed: int
) -> None:
    """Both paths (and the dispatch between them) decide as the router's scalar draws do,
    from the same generator state, leaving it in the same state."""
    rngs = [np.random.default_rng(seed) for _ in range(4)]
    expected = router_participation(probabilities, rngs[0])
    assert bernoulli_scalar(probabilities, rngs[1]) == expected
    assert bernoulli_vector(probabilities, rngs[2]) == expected
    assert bernoulli(probabilities, rngs[3]) == expected
    states = [rng.bit_generator.state for rng in rngs]
    assert all(state == states[0] for state in states)


def test_participation_happens_at_its_probability() -> None:
    rng = np.random.default_rng(3)
    taken = [0, 0, 0]
    for _ in range(2_000):
        for i, happened in enumerate(bernoulli([0.1, 0.5, 1.0] * 4, rng)):
            taken[i % 3] += happened
    # 8,000 draws each: ±1.5 points is over four standard deviations (fixed seed, no flake).
    assert abs(taken[0] / 8_000 - 0.1) < 0.015
    assert abs(taken[1] / 8_000 - 0.5) < 0.015
    assert taken[2] == 8_000
