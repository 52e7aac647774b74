"""Prometheus metrics of one exchange process, in a registry of its own.

A registry per app (not the global default) so that tests can build many apps in one
process and read each one's figures.
"""

import platform
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import Any, Final, Protocol, TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# The *_created series double the output and nobody graphs them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5,
)  # fmt: skip
"""Seconds; dense through 5–100 ms, where an SSP's ``tmax`` falls."""
_LOOP_LAG_BUCKETS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
_PACKAGE: Final = "rtb-exchange"


def build_version() -> str:
    """The installed package's version (``pyproject.toml``); ``unknown`` when run from a
    tree that was never installed."""
    try:
        return metadata.version(_PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


_Labelled = TypeVar("_Labelled", Counter, Histogram)


class ScoringRouter(Protocol):
    """An in-process router that counts the candidates its models scored
    (``bidding.router.CampaignRouter``)."""

    @property
    def name(self) -> str: ...

    @property
    def scored_candidates(self) -> int: ...


class _ScoredCandidates(Collector):
    """``rtb_router_scored_candidates_total``, read from the routers' own plain counters when
    scraped: ``bidding`` stays free of prometheus, and the hot path adds one integer."""

    _NAME = "rtb_router_scored_candidates"
    _HELP = "Value-based candidates the in-process routers priced with model predictions."

    def __init__(self, routers: Sequence[ScoringRouter]) -> None:
        self._routers = tuple(routers)

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self._NAME, self._HELP, labels=["router"])]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._NAME, self._HELP, labels=["router"])
        for router in self._routers:
            family.add_metric([router.name], router.scored_candidates)
        yield family


class _ReadCounter(Collector):
    """A counter kept by its owner and read at scrape time (nothing to update per event)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        self._name, self._documentation, self._read = name, documentation, read

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self._read())


class _ReadLabelledCounter(Collector):
    """A counter per label value, kept by its owner and read at scrape time."""

    def __init__(
        self, name: str, documentation: str, label: str, read: Callable[[], Mapping[str, int]]
    ) -> None:
        self._name, self._documentation, self._label, self._read = name, documentation, label, read

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, labels=[self._label])

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, count in sorted(self._read().items()):
            family.add_metric([value], count)
        yield family


class CanaryView(Protocol):
    """A canary rollout as the metrics read it (``bidding.canary.Canary``)."""

    @property
    def name(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def rolled_back(self) -> bool: ...

    def arm_counts(self) -> Mapping[str, Mapping[str, int]]: ...


class _Canary(Collector):
    """The canary's state and each arm's counts, read when scraped."""

    _COUNTS: Final = ("requests", "bids", "wins", "spend_micros", "clicks", "errors")

    def __init__(self, canary: CanaryView) -> None:
        self._canary = canary

    def _families(
        self,
    ) -> tuple[GaugeMetricFamily, CounterMetricFamily, list[CounterMetricFamily]]:
        labels = ["canary"]
        active = GaugeMetricFamily(
            "rtb_canary_active",
            "1 while the canary rollout takes its share of the auctions, 0 once rolled back "
            "or refused.",
            labels=labels,
        )
        rollbacks = CounterMetricFamily(
            "rtb_canary_rollbacks",
            "Canary rollbacks seen by this process (its own guard breach or another "
            "process's, through the store).",
            labels=labels,
        )
        counts = {
            name: CounterMetricFamily(
                f"rtb_canary_{name}",
                f"The canary's guard counts per arm: {name.replace('_', ' ')}.",
                labels=["canary", "arm"],
            )
            for name in self._COUNTS
        }
        return active, rollbacks, list(counts.values())

    def describe(self) -> Iterator[Metric]:
        active, rollbacks, counts = self._families()
        yield active
        yield rollbacks
        yield from counts

    def collect(self) -> Iterator[Metric]:
        active, rollbacks, counts = self._families()
        name = self._canary.name
        active.add_metric([name], 1.0 if self._canary.active else 0.0)
        rollbacks.add_metric([name], 1.0 if self._canary.rolled_back else 0.0)
        arms = self._canary.arm_counts()
        for family, count in zip(counts, self._COUNTS, strict=True):
            for arm, values in sorted(arms.items()):
                family.add_metric([name, arm], values[count])
        yield active
        yield rollbacks
        yield from counts


class _ReadGauge(Collector):
    """A gauge kept by its owner and read at scrape time (nothing to update per event)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._documentation, self._read = name, documentation, read

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, value=self._read())


def _go_float(value: float) -> str:
    """A bucket bound as the exposition format writes it (``0.005``, ``+Inf``)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


class LoopSeries:
    """One labelled series of a ``LoopHistogram``: a count per bucket and the sum."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf only)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound it does not exceed."""
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value


class LoopHistogram(Collector):
    """A labelled histogram updated from the event loop's thread only: plain integers,
    no lock. ``Histogram.observe`` increments two locked values (sum, bucket) after a
    linear scan of the bounds, many times the cost of the clock read it records, for a
    figure every request pays (docs/performance.md); here an observation is a bisection
    and two additions, and the cumulative buckets are built when scraped."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name, self._documentation = name, documentation
        self._labelnames = tuple(labelnames)
        self._bounds = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], LoopSeries] = {}
        registry.register(self)

    def labels(self, *values: str) -> LoopSeries:
        """The series of ``values`` (created on first use; keep it, as ``Metrics.child``)."""
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name}: expected labels {self._labelnames}")
        found = self._series.get(values)
        if found is None:
            found = self._series[values] = LoopSeries(self._bounds)
        return found

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        edges = [*map(_go_float, self._bounds), "+Inf"]
        for values, series in list(self._series.items()):
            running, buckets = 0, []
            for edge, count in zip(edges, list(series.counts), strict=True):
                running += count
                buckets.append((edge, float(running)))
            family.add_metric(list(values), buckets, series.total)
        yield family


class Metrics:
    """The counters and histograms the exchange updates."""

    def child(self, metric: _Labelled, *labels: str) -> _Labelled:
        """``metric.labels(*labels)``, remembered: per-bidder series are touched several times
        per auction, and prometheus-client's lookup (lock, validation) costs ~1.5 µs a call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def watch_scoring(self, routers: Sequence[ScoringRouter]) -> None:
        """Export how many candidates ``routers`` scored with the models (once per process)."""
        self.registry.register(_ScoredCandidates(routers))

    def count_landscape_refreshes(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Publish the landscape file's refreshes (``exchange.landscape_reload``)."""
        self.registry.register(
            _ReadLabelledCounter(
                "rtb_landscape_refreshes",
                "Reads of the landscape file (RTB_LANDSCAPE_FILE), by outcome: refreshed (its "
                "buckets replaced the routers' own); refused (it did not parse: the routers "
                "keep theirs).",
                "outcome",
                read,
            )
        )

    def watch_canary(self, canary: CanaryView) -> None:
        """Export the canary rollout's state and its arms' counts (once per process)."""
        self.registry.register(_Canary(canary))

    def count_ring_drops(self, read: Callable[[], int]) -> None:
        """Publish the in-memory event ring's drops (``budget.stream.MemoryEventStream``)."""
        self.registry.register(
            _ReadCounter(
                "rtb_events_ring_dropped",
                "Events that fell off the in-memory event stream (store=memory) before a "
                "consumer group read or acknowledged them.",
                read,
            )
        )

    def count_model_reloads(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Publish the model holder's reload outcomes (``bidding.models.ModelHolder.reloads``)."""
        self.registry.register(
            _ReadLabelledCounter(
                "rtb_model_reloads",
                "Reloads of the model files, by outcome: reloaded; refused (the live models "
                "stay: a file corrupt, missing or below the quality bar of bidding.quality); "
                "failed (an error while loading).",
                "outcome",
                read,
            )
        )

    def watch_in_flight(self, read: Callable[[], int]) -> None:
        """Publish the requests being handled, as counted by the admission middleware."""
        self.registry.register(
            _ReadGauge(
                "rtb_http_requests_in_flight",
                "HTTP requests inside the app now (admitted, not yet answered), as counted by "
                "the in-flight limit (RTB_MAX_IN_FLIGHT).",
                read,
            )
        )

    def __init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        # process_* (CPU, memory, fds, start time), python_info and python_gc_*: the
        # collectors prometheus-client registers into its global registry, here into ours.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.build_info = Info(
            "rtb_build",
            "The exchange's build: package version, Python version and implementation, and "
            "the OpenRTB version it speaks.",
            registry=self.registry,
        )
        self.build_info.info(
            {
                "version": build_version(),
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "openrtb": "2.6",
            }
        )
        self.http_latency = LoopHistogram(
            "rtb_http_request_duration_seconds",
            "HTTP requests from their first bytes read by the server to the last byte of the "
            "answer handed to it (what a client sees, less the network), by route template "
            "and status class; requests refused or shed by the server count too.",
            ["route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "rtb_event_loop_lag_seconds",
            "How late the event loop woke a monitor task sleeping 100 ms (app.loop_lag), "
            "sampled ten times a second: what every request waits before its turn.",
            buckets=_LOOP_LAG_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag_last = Gauge(
            "rtb_event_loop_lag_last_seconds",
            "The event-loop lag of the last sample.",
            registry=self.registry,
        )
        self.queue_wait_limit = Gauge(
            "rtb_admission_queue_wait_limit_seconds",
            "A bid request that waited longer for its handler while others are in flight is "
            "answered 204 unheard (queued_too_long): RTB_SHED_AFTER_MS, or less with external "
            "bidders (exchange.deadlines). 0: never.",
            registry=self.registry,
        )
        self.log_suppressed = Counter(
            "rtb_log_lines_suppressed",
            "Log lines not written by a rate-limited logger (rejected requests and notices), "
            "by event.",
            ["event"],
            registry=self.registry,
        )
        self.requests = Counter(
            "rtb_auction_requests",
            "Bid requests by outcome (bid, nobid, invalid, refused, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.auction_refused = Counter(
            "rtb_auction_refused",
            "Bid requests turned away at the door, by reason (no_key, unknown_key, "
            "account_disabled, publisher_not_allowed, rate_limited_ip, rate_limited_account).",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rtb_auction_latency_seconds",
            "Bid requests that reached the auction (valid ones): from their first bytes read "
            "to the auction's result, before it is encoded and sent. The client's view of "
            "every request is rtb_http_request_duration_seconds.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bids = Counter(
            "rtb_bids", "Bids received, by bidder.", ["bidder"], registry=self.registry
        )
        self.invalid_bids = Counter(
            "rtb_invalid_bids",
            "Bids dropped before the auction, by bidder and loss reason code.",
            ["bidder", "reason"],
            registry=self.registry,
        )
        self.bids_above_max = Counter(
            "rtb_bids_above_max",
            "Bids refused for a price above RTB_MAX_BID_CPM (also in rtb_invalid_bids, reason 3).",
            ["bidder"],
            registry=self.registry,
        )
        self.wins = Counter(
            "rtb_wins", "Auctions won, by bidder.", ["bidder"], registry=self.registry
        )
        self.nobids = Counter(
            "rtb_nobids",
            "Auctions that ended without a winner, by reason (exchange.results.NoBid: no_time, "
            "no_bids, not_cleared, blocked, overloaded, queued_too_long, duplicate_path).",
            ["reason"],
            registry=self.registry,
        )
        self.screened = Counter(
            "rtb_traffic_screened",
            "Requests with a traffic-quality finding, by check, no-bid reason and action "
            "(block: refused before any bidder; flag: passed on in ext.ivt).",
            ["check", "reason", "action"],
            registry=self.registry,
        )
        self.bidder_calls = Counter(
            "rtb_bidder_calls",
            "Bidder calls by bidder and result (bid, nobid, timeout, error).",
            ["bidder", "result"],
            registry=self.registry,
        )
        self.bidder_latency = Histogram(
            "rtb_bidder_latency_seconds",
            "Time from calling a bidder to its answer (or the deadline), by bidder.",
            ["bidder"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bidder_errors = Counter(
            "rtb_bidder_errors",
            "Bidder calls that failed, by bidder and kind (timeout, error).",
            ["bidder", "kind"],
            registry=self.registry,
        )
        self.notices = Counter(
            "rtb_notices",
            "Notices by kind and result (recorded, duplicate, rejected).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.store_circuit = Gauge(
            "rtb_store_circuit_state",
            "Counter store circuit: 0 closed, 1 half-open (probing), 2 open (no in-process bids).",
            registry=self.registry,
        )
        self.store_calls = Histogram(
            "rtb_store_call_seconds",
            "Counter store calls by operation: how long they took (failed ones included).",
            ["operation"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.store_failures = Counter(
            "rtb_store_failures",
            "Counter store calls that failed (timeout, connection), by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.store_circuit_opened = Counter(
            "rtb_store_circuit_opened",
            "Times the store circuit opened (in-process bidding paused).",
            registry=self.registry,
        )
        self.ledger_state = Gauge(
            "rtb_ledger_state",
            "Ledger: 0 ready, 1 not initialised, 2 lost (the store lost its data; no in-process "
            "bids or charges until `rtb ledger restore`).",
            registry=self.registry,
        )
        self.spool_bytes = Gauge(
            "rtb_notice_spool_bytes",
            "Bytes of notices waiting on disk for the store (0 while it settles them at once).",
            registry=self.registry,
        )
        self.spool_settled = Counter(
            "rtb_notice_spool_settled",
            "Spooled notices settled once the store answered again, by kind and result.",
            ["kind", "result"],
            registry=self.registry,
        )
        self.conversions = Counter(
            "rtb_conversions",
            "Conversion postbacks by result: recorded, duplicate, or why refused (invalid, "
            "forged, unsigned, bad_signature, value_cap, window, limit, unavailable).",
            ["result"],
            registry=self.registry,
        )
        self.settlements = Counter(
            "rtb_settlements",
            "Won impressions settled, by result (settled, charged_late, refused, duplicate).",
            ["result"],
            registry=self.registry,
        )
        self.charged_micros = Counter(
            "rtb_charged_micros",
            "Micros charged to in-process campaigns, by bidder.",
            ["bidder"],
            registry=self.registry,
        )
        self.events_written = Counter(
            "rtb_events_written", "Events written to the event stream.", registry=self.registry
        )
        self.events_dropped = Counter(
            "rtb_events_dropped",
            "Events dropped because the queue to the stream was full.",
            registry=self.registry,
        )
        self.http_refused = Counter(
            "rtb_http_refused",
            "Requests or connections cut off by a server limit, by reason (header_too_large, "
            "too_many_headers, header_timeout, body_timeout, invalid_http, overloaded, "
            "drain_exceeded).",
            ["reason"],
            registry=self.registry,
        )
        self.client_disconnects = Counter(
            "rtb_client_disconnects",
            "Requests whose client went away (or was cut off) before its body was read.",
            registry=self.registry,
        )
        self.model_scoring_path = Gauge(
            "rtb_model_scoring_path",
            "1 for the code scoring each model (compiled, xgboost-c, xgboost; constant or "
            "rules for a stand-in), as of the scrape.",
            ["model", "path"],
            registry=self.registry,
        )
        self.rates_day = Gauge(
            "rtb_currency_rates_day_timestamp_seconds",
            "The day of the currency reference table in use (midnight UTC; 0: no table).",
            registry=self.registry,
        )
        self.rate_refreshes = Counter(
            "rtb_currency_rate_refreshes",
            "Reads of the currency reference table, by outcome (updated, unchanged, refused: "
            "unreadable or invalid, the rates in use stay).",
            ["outcome"],
            registry=self.registry,
        )
        self.forwards = Counter(
            "rtb_notice_forwards",
            "Forwarded DSP notices by result (sent, failed, dropped).",
            ["result"],
            registry=self.registry,
        )
