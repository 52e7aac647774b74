"""What the admission middleware knows about every request, for the metrics: how many are
inside the app now, and how long each took from its first bytes to its last byte sent.

One object per app, created with it (``app.main.create_app``) and bound to the process's
``Metrics`` when the lifespan has built them: the middleware exists before the services do.
Per request it costs one dictionary lookup and one ``observe`` (the labelled children are
cached; prometheus-client's ``labels()`` costs ~1.5 µs a call).
"""

from typing import Final

from prometheus_client import Histogram

from exchange.metrics import Metrics

UNMATCHED: Final = "unmatched"
"""The route label of a request no route matched (404) or that never reached the router."""
_STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")


class RequestMetrics:
    """The in-flight count (kept by ``app.admission.InFlightLimit``) and the latency
    histogram by route template and status class."""

    __slots__ = ("_children", "_histogram", "_templates", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self._histogram: Histogram | None = None
        self._children: dict[tuple[str, int], Histogram] = {}
        self._templates: dict[str, str] = {}

    def bind(self, metrics: Metrics) -> None:
        """Report into ``metrics`` from now on (each lifespan builds its own)."""
        self._histogram = metrics.http_latency
        self._children = {}
        metrics.watch_in_flight(lambda: self.in_flight)

    def route_of(self, path: str, route_template: str | None) -> str:
        """A bounded label for a request: the template of the route that handled it, or of
        the static route its path was seen on before (a request refused unrouted)."""
        if route_template is not None:
            if "{" not in route_template:
                self._templates[route_template] = route_template
            return route_template
        return self._templates.get(path, UNMATCHED)

    def observe(self, route: str, status: int, seconds: float) -> None:
        """One finished request."""
        key = (route, status)
        child = self._children.get(key)
        if child is None:
            histogram = self._histogram
            if histogram is None:  # served without a lifespan: nothing to report into
                return
            klass = _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else "other"
            child = self._children[key] = histogram.labels(route, klass)
        child.observe(seconds)
