"""The lock-free histogram exposes what prometheus-client's would: cumulative buckets whose
bounds are inclusive, the sum, and the count."""

import pytest
from prometheus_client import CollectorRegistry, Histogram

from exchange.metrics import LoopHistogram

BUCKETS = (0.001, 0.01, 0.1)


def test_it_reads_like_prometheus_clients_histogram() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = LoopHistogram("t_seconds", "t", ["route"], BUCKETS, ours)
    slow = Histogram("t_seconds", "t", ["route"], buckets=BUCKETS, registry=theirs)
    for value in (0.0, 0.001, 0.0011, 0.01, 0.5, 7.0):
        fast.labels("/a").observe(value)
        slow.labels("/a").observe(value)
    fast.labels("/b").observe(0.05)
    slow.labels("/b").observe(0.05)

    def read(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
        return {
            (s.name, s.labels["route"], s.labels.get("le", "")): s.value
            for family in registry.collect()
            for s in family.samples
        }

    assert read(ours) == read(theirs)
    assert read(ours)[("t_seconds_bucket", "/a", "0.001")] == 2


def test_labels_must_match_the_names() -> None:
    histogram = LoopHistogram("u_seconds", "u", ["route", "status"], BUCKETS, CollectorRegistry())
    with pytest.raises(ValueError, match="expected labels"):
        histogram.labels("/a")
