"""Route labels come from the app's routing table, included routers too, so that a request
refused before routing still gets its route's label, and unknown paths share one."""

from app.main import create_app
from app.request_metrics import UNMATCHED, RequestMetrics
from exchange.settings import Settings


def test_paths_are_labelled_by_the_route_they_match_before_any_routing() -> None:
    app = create_app(Settings(store="memory"))
    labels = RequestMetrics()
    for path in ("/openrtb2/auction", "/notices/win", "/track/conversion", "/metrics"):
        assert labels.route_of({"path": path, "app": app}) == path
    assert labels.route_of({"path": "/wp-admin/setup.php", "app": app}) == UNMATCHED


def test_an_app_served_bare_labels_by_what_the_router_left_in_the_scope() -> None:
    class Routed:
        path_format = "/info/bidders/{name}"

    labels = RequestMetrics()
    assert labels.route_of({"path": "/info/bidders/acme", "route": Routed()}) == (
        "/info/bidders/{name}"
    )
    assert labels.route_of({"path": "/x"}) == UNMATCHED
