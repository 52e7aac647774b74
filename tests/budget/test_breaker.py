"""The circuit breaker, with time moved by hand."""

import pytest

from budget.breaker import BreakerState, CircuitBreaker


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """Read through a call, so that mypy does not narrow the property between reads."""
    return breaker.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def opened(clock: FakeClock, changes: list[tuple[BreakerState, BreakerState]]) -> CircuitBreaker:
    breaker = CircuitBreaker(3, 5.0, clock, lambda old, new: changes.append((old, new)))
    for _ in range(3):
        breaker.record_failure()
    return breaker


def test_closed_until_threshold_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 5.0, clock)
    breaker.record_failure()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 5.0, clock)
    for _ in range(10):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.failures == 0


def test_one_probe_after_the_cooldown_and_success_closes(clock: FakeClock) -> None:
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = opened(clock, changes)
    clock.now += 4.999
    assert not breaker.allow()
    clock.now += 0.001
    assert breaker.allow()
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allow(), "only one probe at a time"
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_a_failed_probe_reopens_for_a_full_cooldown(clock: FakeClock) -> None:
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = opened(clock, changes)
    clock.now += 5
    assert breaker.allow()
    clock.now += 1
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    assert changes[-2:] == [
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
    ]


def test_a_lost_probe_does_not_wedge_it(clock: FakeClock) -> None:
    breaker = opened(clock, [])
    clock.now += 5
    assert breaker.allow()  # this probe's caller never reports back
    clock.now += 4
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()
    assert state_of(breaker) is BreakerState.HALF_OPEN


@pytest.mark.parametrize(("threshold", "cooldown_s"), [(0, 1.0), (1, 0.0)])
def test_refuses_nonsense_settings(clock: FakeClock, threshold: int, cooldown_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, cooldown_s, clock)


def test_a_burst_of_failures_opens_only_once_it_has_lasted(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 5.0, clock, min_failing_s=0.5)
    for _ in range(50):  # a stall: fifty calls time out within 100 ms
        breaker.record_failure()
        clock.now += 0.002
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.record_success()  # and the store answers again
    for _ in range(10):  # an outage: failures for longer than the window
        breaker.record_failure()
        clock.now += 0.1
    assert state_of(breaker) is BreakerState.OPEN


def test_a_success_restarts_the_window(clock: FakeClock) -> None:
    breaker = CircuitBreaker(2, 5.0, clock, min_failing_s=1.0)
    breaker.record_failure()
    clock.now += 0.9
    breaker.record_success()
    breaker.record_failure()
    clock.now += 0.9
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED  # 0.9 s of failing, not 1.8
    clock.now += 0.2
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
