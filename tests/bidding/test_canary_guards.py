"""The canary's guards: a canary no different from control is rolled back about as rarely as
α says however often it is looked at; a broken one is caught on each guard; too little
data is never a reason."""

import numpy as np

from bidding.canary_guards import ArmCounts, Guard, GuardConfig, judge

LOOKS = 40
REQUESTS_PER_LOOK = 400


def _step(arm: ArmCounts, rng: np.random.Generator, n: int, bid_p: float, win_p: float,
          price: int, ctr: float) -> None:  # fmt: skip
    """``n`` more requests: each bids on up to 3 candidates, each bid wins, each win is
    charged a price drawn around ``price`` and clicked now and then."""
    bids = rng.binomial(3, bid_p, n)
    for b in bids.tolist():
        arm.priced(b)
    wins = rng.binomial(bids, win_p)  # an auction's wins are charged together
    first = arm.requests - n
    for i in np.flatnonzero(wins).tolist():
        for charge in rng.gamma(4.0, price / 4.0, int(wins[i])).tolist():
            arm.charged(f"a{first + i}", max(int(charge), 1))
    arm.clicks += int(rng.binomial(int(wins.sum()), ctr))


def _first_breach(
    seed: int, config: GuardConfig, canary_changes: dict[str, float]
) -> tuple[int, Guard] | None:
    """Look after every batch of requests, as the watch does; the look and guard of the
    first breach, or None after all the looks."""
    rng = np.random.default_rng(seed)
    control, canary = ArmCounts(), ArmCounts()
    base = {"bid_p": 0.4, "win_p": 0.3, "price": 2_000, "ctr": 0.1}
    changed = {k: v * canary_changes.get(k, 1.0) for k, v in base.items()}
    changed["price"] = int(changed["price"])
    for look in range(LOOKS):
        _step(control, rng, REQUESTS_PER_LOOK * 4, **base)  # type: ignore[arg-type]
        _step(canary, rng, REQUESTS_PER_LOOK, **changed)  # type: ignore[arg-type]
        breach = judge(control, canary, config)
        if breach is not None:
            return look, breach.guard
    return None


def test_a_canary_like_control_is_rarely_rolled_back_over_many_looks() -> None:
    config = GuardConfig(alpha=0.05, min_requests=500, min_clicks=20, bid_rate=0.05,
                         win_rate=0.05, spend_rate=0.05, ecpc=0.05)  # fmt: skip
    # Tolerances this tight make the test decide every time, so α is what holds it back.
    rolled_back = sum(_first_breach(seed, config, {}) is not None for seed in range(200))
    assert rolled_back / 200 <= 0.06


def test_each_broken_guard_is_caught() -> None:
    config = GuardConfig(min_requests=1000)
    cases = {
        Guard.BID_RATE: {"bid_p": 0.3},  # a model that rarely clears the floor
        Guard.WIN_RATE: {"win_p": 1.8},  # one that overbids
        Guard.SPEND_RATE: {"price": 2.0},
        Guard.ECPC: {"ctr": 0.3},
    }
    for guard, change in cases.items():
        found = _first_breach(1, config, change)
        assert found is not None, guard
        assert found[1] is guard


def test_a_change_within_tolerance_or_for_the_better_is_kept() -> None:
    config = GuardConfig(min_requests=1000)
    assert _first_breach(2, config, {"price": 1.1}) is None  # +10 %, tolerance 30 %
    assert _first_breach(3, config, {"ctr": 2.0}) is None  # cheaper clicks


def test_too_little_data_is_no_reason_and_errors_are_their_own_guard() -> None:
    control, canary = ArmCounts(), ArmCounts()
    for _ in range(50):
        control.priced(3)
        canary.priced(0)  # a canary that never bids, but only 50 requests in
    config = GuardConfig(min_requests=100)
    assert judge(control, canary, config) is None
    canary.errors = 9
    assert judge(control, canary, config) is None  # below min_errors
    canary.errors = 10
    breach = judge(control, canary, config)
    assert breach is not None
    assert breach.guard is Guard.ERROR_RATE
    assert "error_rate 0.2" in breach.reason


def _measure(seeds: int = 1000, cases: int = 100) -> None:
    """The figures of docs/canary.md: ``python -m tests.bidding.test_canary_guards``."""
    tight = GuardConfig(alpha=0.05, min_requests=500, min_clicks=20, bid_rate=0.05,
                        win_rate=0.05, spend_rate=0.05, ecpc=0.05)  # fmt: skip
    default = GuardConfig(min_requests=1000)
    for label, config in (("tolerances 5 %, α 0.05", tight), ("default guards", default)):
        rolled = sum(_first_breach(seed, config, {}) is not None for seed in range(seeds))
        print(f"like control, {label}: rolled back {rolled / seeds:.1%} of {seeds} seeds")
    changes = (
        {"bid_p": 0.3}, {"win_p": 1.8}, {"price": 1.5}, {"ctr": 0.3}, {"price": 1.1},
    )  # fmt: skip
    for change in changes:
        found = [f for s in range(cases) if (f := _first_breach(s, default, change)) is not None]
        looks = sorted(look + 1 for look, _ in found)
        median = looks[len(looks) // 2] if looks else None
        guards = sorted({guard.value for _, guard in found})
        print(f"{change}: caught {len(found)}/{cases}, median look {median}, guards {guards}")


if __name__ == "__main__":
    _measure()
