"""Why a bidder call produced no answer, as exceptions the exchange counts by ``kind``.

    BidderError
    ├── BidderUnavailable      the call was not made: circuit open, over its QPS
    │   ├── CircuitOpen
    │   └── Throttled
    ├── BidderTransportError   connect, reset, TLS, protocol failures
    ├── BidderHTTPError        a status other than 200 and 204
    └── BidderResponseError    an answer that is not a valid BidResponse for this request
        └── ResponseTooLarge

Timeouts are not here: the exchange enforces the deadline from outside and sees
``TimeoutError``. Expected outcomes that are not failures — no bid (204, empty body,
empty seatbid) — are answers (None), not exceptions.
"""


class BidderError(Exception):
    """A bidder call that produced no usable answer."""

    kind = "error"
    """The ``kind`` label of ``rtb_bidder_errors_total``."""


class BidderUnavailable(BidderError):
    """The exchange did not call the bidder."""

    kind = "unavailable"


class CircuitOpen(BidderUnavailable):
    """Too many recent failures; calls resume after a cool-down probe succeeds."""

    kind = "circuit_open"


class Throttled(BidderUnavailable):
    """The bidder's QPS limit is reached for now."""

    kind = "throttled"


class BidderTransportError(BidderError):
    """Connecting, sending or receiving failed (refused, reset, TLS, HTTP/2 protocol)."""

    kind = "transport"


class BidderHTTPError(BidderError):
    """The bidder answered with a status other than 200 or 204."""

    kind = "http_status"

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class BidderResponseError(BidderError):
    """The body is not a valid BidResponse (or not for this request)."""

    kind = "bad_response"


class ResponseTooLarge(BidderResponseError):
    """The body is larger than the bidder's configured limit."""

    kind = "too_large"
