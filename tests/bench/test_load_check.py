"""bench.load_check's verdict: locust's final stats and the exchange's status counts."""

import pytest

from bench.load_check import Summary, percentile_ms, server_statuses, summarize, verdict

METRICS = """\
# HELP rtb_http_request_duration_seconds HTTP requests
# TYPE rtb_http_request_duration_seconds histogram
rtb_http_request_duration_seconds_bucket{le="0.005",route="/openrtb2/auction",status="2xx"} 9.0
rtb_http_request_duration_seconds_bucket{le="+Inf",route="/openrtb2/auction",status="2xx"} 10.0
rtb_http_request_duration_seconds_count{route="/openrtb2/auction",status="2xx"} 10.0
rtb_http_request_duration_seconds_sum{route="/openrtb2/auction",status="2xx"} 0.02
rtb_http_request_duration_seconds_count{route="/notices/win",status="2xx"} 4.0
rtb_http_request_duration_seconds_count{route="/openrtb2/auction",status="5xx"} 1.0
"""


def entry(name: str, times: dict[str, int], failures: int = 0) -> dict[str, object]:
    """One entry of locust's --json-file stats, as locust 2.47 writes it."""
    return {
        "name": name,
        "method": "GET" if name.startswith("notice") else "POST",
        "num_requests": sum(times.values()),
        "num_failures": failures,
        "response_times": times,
    }


def test_percentiles_are_read_off_locusts_histogram() -> None:
    times = {1: 50, 2: 40, 9: 9, 40: 1}
    assert percentile_ms(times, 0.5) == 1
    assert percentile_ms(times, 0.9) == 2
    assert percentile_ms(times, 0.99) == 9
    assert percentile_ms(times, 1.0) == 40
    assert percentile_ms({}, 0.5) is None


def test_the_summary_merges_every_request_name() -> None:
    summary = summarize(
        [
            entry("auction site-banner", {"8": 3, "12": 1}, failures=1),
            entry("notice win", {"2": 4}),
        ]
    )
    assert (summary.requests, summary.failures, summary.notices) == (8, 1, 4)
    assert (summary.p50_ms, summary.p99_ms) == (2, 12)
    assert summary.by_name["auction site-banner"].p50_ms == 8


def test_server_statuses_sum_the_latency_counts_by_class() -> None:
    assert server_statuses(METRICS) == {"2xx": 14, "5xx": 1}


@pytest.fixture
def clean() -> Summary:
    return summarize([entry("auction site-banner", {"8": 5}), entry("notice win", {"2": 3})])


def test_a_clean_run_passes(clean: Summary, capsys: pytest.CaptureFixture[str]) -> None:
    assert verdict(clean, 0, {"2xx": 8}, 200) == 0
    out = capsys.readouterr().out
    assert "requests 8, failures 0, p50 8 ms, p99 8 ms" in out
    assert out.rstrip().endswith("load-check: passed")


@pytest.mark.parametrize(
    ("locust_rc", "statuses", "metrics_status", "problem"),
    [
        (1, {"2xx": 8}, 200, "locust exited with status 1"),
        (0, {"2xx": 7, "5xx": 1}, 200, "1 answers 5xx"),
        (0, {}, 503, "/metrics answered 503"),
    ],
)
def test_a_failure_an_error_status_or_no_metrics_fails(
    clean: Summary,
    locust_rc: int,
    statuses: dict[str, int],
    metrics_status: int,
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert verdict(clean, locust_rc, statuses, metrics_status) == 1
    assert problem in capsys.readouterr().out


def test_failed_requests_or_no_win_fail(capsys: pytest.CaptureFixture[str]) -> None:
    failed = summarize([entry("auction dooh", {"8": 5}, failures=2), entry("notice win", {"2": 1})])
    assert verdict(failed, 0, {"2xx": 6}, 200) == 1
    assert "2 failed requests" in capsys.readouterr().out
    no_win = summarize([entry("auction dooh", {"8": 5})])
    assert verdict(no_win, 0, {"2xx": 5}, 200) == 1
    assert "no auction was won" in capsys.readouterr().out
