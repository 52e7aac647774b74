"""Two workers under full load on a healthy Redis: no notice is refused or queued and the
store circuit never opens — a busy store is not an outage (``bench --section notice-load``
runs the same with the old settings beside it)."""

from bench.notice_load import DEFAULTS, run_load


def test_a_busy_healthy_store_never_fails_a_notice(redis_url: str) -> None:
    outcome = run_load(DEFAULTS, redis_url=redis_url, duration_s=8.0)
    assert sum(outcome.notices.values()) > 100, outcome.notices  # the load did reach notices
    assert outcome.notice_503 == 0, outcome.notices
    assert outcome.queued == 0, outcome.notices
    assert outcome.circuit_opened == 0
    assert set(outcome.auctions) <= {200, 204}, outcome.auctions
