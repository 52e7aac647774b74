"""The token bucket, with time moved by hand."""

import pytest

from exchange.bidders.throttle import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_qps=10, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.05  # half a token
    assert not bucket.try_acquire()
    clock.now += 0.05
    assert bucket.try_acquire()
    assert not bucket.try_acquire()


def test_never_holds_more_than_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_qps=100, burst=2, clock=clock)
    clock.now += 3600
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]


def test_long_run_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_qps=50, burst=1, clock=clock)
    granted = 0
    for _ in range(10_000):  # 10 s in 1 ms steps
        clock.now += 0.001
        granted += bucket.try_acquire()
    assert 495 <= granted <= 501


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (10, 0.5)])
def test_refuses_nonsense_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
