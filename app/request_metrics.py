"""What the admission middleware knows about every request, for the metrics: how many are
inside the app now, and how long each took from its first bytes to its last byte sent.

One object per app, created with it (``app.main.create_app``) and bound to the process's
``Metrics`` when the lifespan has built them: the middleware exists before the services do.
The route label is the template of the app's route the path matches (a bounded set),
learnt from the app's routing table on the first request: a refused request, which no
route saw, gets its route's label too, and FastAPI names the matched route in the scope
only for its own API routes. Per request of a static route it costs one dictionary lookup
(path and status → series) and one ``observe`` (a ``LoopHistogram``: no lock).
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

try:  # FastAPI ≥ 0.13x keeps included routers nested in ``app.routes``
    from fastapi.routing import iter_route_contexts as _iter_route_contexts
except ImportError:  # pragma: no cover - an older FastAPI lists every route flat
    _iter_route_contexts = None  # type: ignore[assignment]

from exchange.metrics import LoopHistogram, LoopSeries, Metrics

UNMATCHED: Final = "unmatched"
"""The route label of a request no route matched (404) or that never reached the router."""
_STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")


class RequestMetrics:
    """The in-flight count (kept by ``app.admission.InFlightLimit``) and the latency
    histogram by route template and status class."""

    __slots__ = ("_by_path", "_histogram", "_patterns", "_static", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self._histogram: LoopHistogram | None = None
        self._by_path: dict[tuple[str, int], LoopSeries] = {}
        """The series of a static route's path and a status."""
        self._static: dict[str, str] | None = None
        """Path → template of the routes without parameters (None: not learnt yet)."""
        self._patterns: tuple[tuple[re.Pattern[str], str], ...] = ()

    def bind(self, metrics: Metrics) -> None:
        """Report into ``metrics`` from now on (each lifespan builds its own)."""
        self._histogram = metrics.http_latency
        self._by_path = {}
        metrics.watch_in_flight(lambda: self.in_flight)

    def route_of(self, scope: Mapping[str, Any]) -> str:
        """A bounded label for a request: the template of the app's route its path matches,
        else of the route the router put in the scope, else ``unmatched``."""
        static = self._static
        if static is None:
            static = self._learn(scope.get("app"))
        path: str = scope["path"]
        found = static.get(path)
        if found is not None:
            return found
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        routed = getattr(scope.get("route"), "path_format", None)
        return routed if isinstance(routed, str) else UNMATCHED

    def _learn(self, app: object) -> dict[str, str]:
        """The routing table of ``app`` (none when served bare), included routers' routes
        too: FastAPI keeps those nested, and ``iter_route_contexts`` lists them as served,
        prefixes applied."""
        static: dict[str, str] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        routes: Iterable[Any] = getattr(app, "routes", ())
        if _iter_route_contexts is not None:
            routes = _iter_route_contexts(list(routes))
        for route in routes:
            template = getattr(route, "path_format", None)
            regex = getattr(route, "path_regex", None)
            if not isinstance(template, str) or not isinstance(regex, re.Pattern):
                continue
            if "{" in template:
                patterns.append((regex, template))
            else:
                static.setdefault(template, template)
        self._static, self._patterns = static, tuple(patterns)
        return static

    def observe(self, scope: Mapping[str, Any], status: int, seconds: float) -> None:
        """One finished request: one lookup by path and status for a static route's."""
        series = self._by_path.get((scope["path"], status))
        if series is None:
            series = self._series_for(scope, status)
            if series is None:  # served without a lifespan: nothing to report into
                return
        series.observe(seconds)

    def _series_for(self, scope: Mapping[str, Any], status: int) -> LoopSeries | None:
        histogram = self._histogram
        if histogram is None:
            return None
        route = self.route_of(scope)
        klass = _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else "other"
        series = histogram.labels(route, klass)
        path = scope["path"]
        if route == path:  # a static route: the path is one of a bounded set
            self._by_path[(path, status)] = series
        return series
