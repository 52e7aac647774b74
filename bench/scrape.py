"""The exchange's own counters, read from its ``/metrics`` before and after a run.

What the load generator cannot see: how many candidates the routers scored with the models
(``rtb_router_scored_candidates_total``), auctions by outcome, and no-bids by reason (the
shed ones: ``overloaded``, ``queued_too_long``; ``no_time``).
"""

import http.client
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Counters", "scrape"]


@dataclass(frozen=True, slots=True)
class Counters:
    """Counter samples by (sample name, sorted labels)."""

    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float]

    def total(self, name: str, **labels: str) -> float:
        """Sum of ``name``'s samples whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, sample_labels), value in self.samples.items()
            if sample == name and wanted <= set(sample_labels)
        )

    def by(self, name: str, label: str) -> dict[str, float]:
        """``name``'s samples summed per value of ``label``."""
        out: dict[str, float] = {}
        for (sample, sample_labels), value in self.samples.items():
            if sample == name:
                key = dict(sample_labels).get(label, "")
                out[key] = out.get(key, 0.0) + value
        return out

    def minus(self, before: "Counters") -> "Counters":
        """What changed since ``before``."""
        return Counters(
            {key: value - before.samples.get(key, 0.0) for key, value in self.samples.items()}
        )


def scrape(port: int, host: str = "127.0.0.1") -> Counters:
    """Every counter sample the exchange on ``port`` exports (``*_total`` names)."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"/metrics on port {port}: {response.status}")
    samples = {}
    for family in text_string_to_metric_families(text):
        if family.type != "counter":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                samples[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return Counters(samples)
