"""An external DSP called over HTTP/2 (or keep-alive HTTP/1.1): the Bidder of a bidders-file
``dsps`` entry.

One call is: QPS token, circuit breaker, encoded body, POST, bounded read, decode, checks.
Its deadline is min(the DSP's ``timeout_ms``, the exchange's ``timeout_s``), enforced with
``asyncio.timeout`` around the whole call — connect, send, wait, read — because httpx's
timeouts are per phase, not a deadline (its own are kept only as a backstop). The body
carries that deadline as ``tmax``.

What a failure is (for the breaker): a timeout, a transport error, a status other than 200
and 204, a body that is too large or not a valid answer to this request. No bid (204, an
empty body, no seatbid) is a success. Throttled and circuit-open calls are not made and so
are neither.

The hot path is written for CPU: everything that does not change per call (URL, headers,
timeouts, per-bidder metric children) is built once; the request body is encoded once per
request view and shared by every bidder it goes to (``BodyCache``); nothing is logged per
call (the exchange counts the errors by ``kind``).
"""

import asyncio
import gzip
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Final
from urllib.parse import urlsplit

import httpx
import orjson
from h2.exceptions import H2Error
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from budget.breaker import BreakerState, CircuitBreaker
from exchange.bidders.config import ExternalBidderSpec
from exchange.bidders.errors import (
    BidderHTTPError,
    BidderResponseError,
    BidderTransportError,
    CircuitOpen,
    ResponseTooLarge,
    Throttled,
)
from exchange.bidders.h2_transport import (
    BODY_LIMIT_EXTENSION,
    BodyTooLarge,
    H2Transport,
    RawResponse,
)
from exchange.bidders.throttle import TokenBucket
from openrtb.codec import decode_response
from openrtb.errors import InvalidResponse
from openrtb.imp import Imp
from openrtb.request import BidRequest
from openrtb.response import BidResponse

__all__ = ["BodyCache", "HttpBidder", "HttpBidderMetrics", "build_http_bidders"]

OPENRTB_VERSION: Final = "2.6"
EARLY_S: Final = 0.0005
"""The bidder's own deadline fires this much before the exchange's outer one (set a moment
earlier with the same length), so the bidder sees its timeouts and counts them."""
_STATE_VALUE: Final = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_CALL_BUCKETS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1)

OUTSIDE_DEADLINE_SLACK_S: Final = 0.005
"""An outside cancel within this much of the deadline counts as the deadline (a failure)."""


class BodyCache:
    """Encoded bid-request bodies per request view, shared by all the bidders of a process.

    The exchange builds one view per set of eligible imps and passes the same object to
    every bidder eligible for that set, so the view is encoded once (without ``tmax``) and
    each bidder's body is that encoding with its ``tmax`` spliced in front; bidders with the
    same deadline and gzip setting share the very same bytes. Keyed by ``id(view)``: an
    entry holds a reference to its view, so the id cannot be reused while it is cached.
    The oldest entries are dropped beyond ``size`` (views die with their auction).
    """

    __slots__ = ("_entries", "size")

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: dict[int, tuple[BidRequest, bytes, dict[tuple[int, bool], bytes]]] = {}

    def body(self, view: BidRequest, tmax_ms: int, gzipped: bool) -> bytes:
        """The JSON body for ``view`` with ``"tmax": tmax_ms``, gzip-compressed if asked."""
        entry = self._entries.get(id(view))
        if entry is None:
            entry = (view, _encode_without_tmax(view), {})
            self._entries[id(view)] = entry
            if len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]
        bodies = entry[2]
        body = bodies.get((tmax_ms, gzipped))
        if body is None:
            rest = entry[1]
            body = b'{"tmax":%d%s' % (tmax_ms, b"," + rest[1:] if len(rest) > 2 else b"}")
            if gzipped:
                body = gzip.compress(body, compresslevel=1, mtime=0)
            bodies[tmax_ms, gzipped] = body
        return body

    def __len__(self) -> int:
        return len(self._entries)


def _encode_without_tmax(view: BidRequest) -> bytes:
    """What ``openrtb.codec.encode_request`` writes, minus ``tmax`` (each bidder sets its own)."""
    return orjson.dumps(view.model_dump(exclude_unset=True, exclude_none=True, exclude={"tmax"}))


class HttpBidderMetrics:
    """The HTTP bidders' own series, registered into the app's registry.

    ``rtb_bidder_call_seconds{bidder}``: wall time of calls actually made, any outcome;
    ``rtb_bidder_circuit_state{bidder}``: 0 closed, 1 half-open (probing), 2 open;
    ``rtb_bidder_circuit_transitions_total{bidder,state}``: moves into each state.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.call_seconds = Histogram(
            "rtb_bidder_call_seconds",
            "Wall time of external bidder calls that were made, by bidder.",
            ["bidder"],
            buckets=_CALL_BUCKETS,
            registry=registry,
        )
        self.circuit_state = Gauge(
            "rtb_bidder_circuit_state",
            "Circuit breaker state per external bidder: 0 closed, 1 half-open, 2 open.",
            ["bidder"],
            registry=registry,
        )
        self.circuit_transitions = Counter(
            "rtb_bidder_circuit_transitions",
            "Circuit breaker transitions per external bidder, by the state entered.",
            ["bidder", "state"],
            registry=registry,
        )


def _banner_sizes(imp: Imp) -> set[tuple[int, int]]:
    banner = imp.banner
    if banner is None:
        return set()
    sizes = {(f.w, f.h) for f in banner.format or () if f.w and f.h}
    if banner.w and banner.h:
        sizes.add((banner.w, banner.h))
    return sizes


class HttpBidder:
    """An external DSP behind the Bidder interface (see the module docstring)."""

    def __init__(
        self,
        spec: ExternalBidderSpec,
        transport: httpx.AsyncBaseTransport,
        *,
        bodies: BodyCache | None = None,
        metrics: HttpBidderMetrics | None = None,
        failure_threshold: int = 5,
        cooldown_s: float = 5.0,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        backstop_timeout_s: float = 1.0,
    ) -> None:
        """``burst`` defaults to a tenth of a second of ``spec.qps`` (at least one call);
        ``clock`` drives the breaker and the token bucket (the deadline uses the loop)."""
        self.spec = spec
        self._name = spec.name
        self._transport = transport
        self._bodies = bodies if bodies is not None else BodyCache()
        self._timeout_s = spec.timeout_ms / 1000
        self._gzip = spec.gzip
        self._max_bytes = spec.max_response_bytes
        self._max_bids = spec.max_bids
        self._url = httpx.URL(spec.endpoint)
        self._headers = httpx.Headers(_headers(spec))
        # The exchange's own HTTP/2 engine is called without httpx's request and response
        # objects (their construction was most of a call's CPU); any other transport through
        # httpx's interface.
        self._raw = transport if isinstance(transport, H2Transport) else None
        self._raw_headers = [(name.encode(), value.encode()) for name, value in _headers(spec)]
        self._timeouts = dict.fromkeys(("connect", "read", "pool"), backstop_timeout_s)
        # The body limit travels with the request: the HTTP/2 engine stops reading (and
        # credits the peer no further) there, instead of buffering whatever it is sent.
        self._extensions = {
            "timeout": dict.fromkeys(("connect", "read", "write", "pool"), backstop_timeout_s),
            BODY_LIMIT_EXTENSION: spec.max_response_bytes,
        }
        self._banner = "banner" in spec.media_types
        self._other_media = frozenset(spec.media_types - {"banner"})
        self._sizes = spec.sizes
        self._bucket = (
            None
            if spec.qps is None
            else TokenBucket(spec.qps, burst or max(1.0, spec.qps / 10), clock)
        )
        self._latency = None if metrics is None else metrics.call_seconds.labels(spec.name)
        on_change = None
        if metrics is not None:
            state_gauge = metrics.circuit_state.labels(spec.name)
            transitions = metrics.circuit_transitions

            def on_change(old: BreakerState, new: BreakerState) -> None:
                state_gauge.set(_STATE_VALUE[new])
                transitions.labels(spec.name, new.value).inc()

        self.breaker = CircuitBreaker(failure_threshold, cooldown_s, clock, on_change)
        self.last_http_version: bytes | None = None
        """The protocol of the last response, as httpx reports it (b"HTTP/2"): a test hook."""

    @property
    def name(self) -> str:
        """The DSP's name in the bidders file."""
        return self._name

    def ready(self) -> bool:
        """False while the breaker is open (the DSP is being left alone)."""
        return self.breaker.state is not BreakerState.OPEN

    def eligible(self, imp: Imp) -> bool:
        """A media type the DSP buys; for a banner, a size it buys (when it lists sizes)."""
        if (
            imp.banner is not None
            and self._banner
            and (self._sizes is None or not self._sizes.isdisjoint(_banner_sizes(imp)))
        ):
            return True
        return bool(
            (imp.video is not None and "video" in self._other_media)
            or (imp.audio is not None and "audio" in self._other_media)
            or (imp.native is not None and "native" in self._other_media)
        )

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        """The DSP's answer to ``request`` within min(its timeout, ``timeout_s``).

        Raises Throttled or CircuitOpen without calling; TimeoutError at the deadline;
        BidderTransportError, BidderHTTPError, BidderResponseError (ResponseTooLarge) for a
        failed call.
        """
        if self._bucket is not None and not self._bucket.try_acquire():
            raise Throttled(self._name)
        breaker = self.breaker
        if not breaker.allow():
            raise CircuitOpen(self._name)
        deadline_s = min(self._timeout_s, timeout_s)
        tmax_ms = int(deadline_s * 1000)
        if tmax_ms <= 0:
            raise TimeoutError
        body = self._bodies.body(request, tmax_ms, self._gzip)
        loop = asyncio.get_running_loop()
        started = loop.time()
        expires = started + deadline_s - EARLY_S
        try:
            async with asyncio.timeout_at(expires):
                response = await self._call(body, request.id)
        except asyncio.CancelledError:
            # Cancelled from outside: the exchange's deadline (count it) or a shutdown. The
            # exchange's timer was armed a moment before ours; on a busy loop that moment
            # can exceed EARLY_S, so a cancel this close to our deadline is the deadline.
            if loop.time() >= expires - OUTSIDE_DEADLINE_SLACK_S:
                breaker.record_failure()
            raise
        except BaseException:
            breaker.record_failure()
            raise
        finally:
            if self._latency is not None:
                self._latency.observe(loop.time() - started)
        breaker.record_success()
        return response

    async def _call(self, body: bytes, request_id: str) -> BidResponse | None:
        try:
            if self._raw is not None:
                headers = [*self._raw_headers, (b"content-length", str(len(body)).encode())]
                status, fields, raw = await self._raw.send_raw(
                    "POST", self._url, headers, body, self._max_bytes, self._timeouts
                )
                self.last_http_version = b"HTTP/2"
            else:
                status, fields, raw = await self._call_httpx(body)
        except BodyTooLarge as exc:
            raise ResponseTooLarge(str(exc)) from exc
        except (httpx.HTTPError, H2Error, OSError) as exc:
            raise BidderTransportError(f"{type(exc).__name__}: {exc}") from exc
        if status == 204:
            return None
        if status != 200:
            raise BidderHTTPError(status)
        _, encoding = _length_and_encoding(fields)
        return self._decode(raw, encoding, request_id)

    async def _call_httpx(self, body: bytes) -> RawResponse:
        """The call through any httpx transport (HTTP/1.1, httpcore's HTTP/2); the body is
        read only for a 200."""
        # A ready stream skips httpx's body encoding and header preparation (~10 µs a call);
        # the headers, host included, are this bidder's prebuilt ones plus the length.
        headers = httpx.Headers(self._headers)
        headers["content-length"] = str(len(body))
        request = httpx.Request(
            "POST",
            self._url,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=self._extensions,
        )
        response = await self._transport.handle_async_request(request)
        try:
            self.last_http_version = response.extensions.get("http_version")
            status = response.status_code
            fields = response.headers.raw
            if status != 200:
                return RawResponse(status, fields, b"")
            length, _ = _length_and_encoding(fields)
            stream = response.stream
            if not isinstance(stream, httpx.AsyncByteStream):
                raise BidderTransportError("the transport returned a sync stream")
            return RawResponse(status, fields, await self._read(stream, length))
        finally:
            await response.aclose()

    async def _read(self, stream: httpx.AsyncByteStream, length: bytes | None) -> bytes:
        """The raw body, stopping as soon as it passes the limit (the transport's own stream:
        ``Response.aiter_raw`` adds a chunker and bookkeeping this does not need)."""
        limit = self._max_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            raise ResponseTooLarge(f"content-length {length.decode()} > {limit}")
        chunks = []
        size = 0
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"body > {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _decode(self, raw: bytes, encoding: bytes | None, request_id: str) -> BidResponse | None:
        if encoding is not None and encoding.strip().lower() != b"identity":
            raw = self._gunzip(raw, encoding)
        if not raw or raw.isspace():
            return None
        try:
            response = decode_response(raw)
        except InvalidResponse as exc:
            raise BidderResponseError(str(exc)) from None
        if response.id != request_id:
            raise BidderResponseError(f"response id {response.id!r} is not the request's")
        if response.seatbid:
            bids = sum(len(seat.bid) for seat in response.seatbid)
            if bids > self._max_bids:
                raise BidderResponseError(f"{bids} bids > max_bids {self._max_bids}")
        return response

    def _gunzip(self, raw: bytes, encoding: bytes) -> bytes:
        """Decompressed ``raw``, never more than the size limit (a small gzip can explode)."""
        if encoding.strip().lower() != b"gzip":
            raise BidderResponseError(f"unsupported content-encoding {encoding.decode()!r}")
        decompressor = zlib.decompressobj(wbits=31)
        try:
            out = decompressor.decompress(raw, self._max_bytes + 1)
        except zlib.error as exc:
            raise BidderResponseError(f"bad gzip body: {exc}") from None
        if len(out) > self._max_bytes:
            raise ResponseTooLarge(f"decompressed body > {self._max_bytes} bytes")
        if not decompressor.eof:
            raise BidderResponseError("truncated gzip body")
        return out


def _length_and_encoding(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None]:
    """Content-Length and Content-Encoding in one pass over the raw headers (httpx's
    ``Headers.get`` re-detects the charset and decodes on each new Headers object)."""
    length = encoding = None
    for key, value in headers:
        name = key.lower()
        if name == b"content-length":
            length = value
        elif name == b"content-encoding":
            encoding = value
    return length, encoding


def _headers(spec: ExternalBidderSpec) -> list[tuple[str, str]]:
    """The request headers of every call to ``spec`` (Content-Length is added per call)."""
    netloc = urlsplit(spec.endpoint).netloc
    headers = [
        ("host", netloc),
        ("content-type", "application/json"),
        ("x-openrtb-version", OPENRTB_VERSION),
        ("accept-encoding", "gzip" if spec.gzip else "identity"),
        ("user-agent", "rtb-exchange"),
    ]
    if spec.gzip:
        headers.append(("content-encoding", "gzip"))
    if spec.auth_header is not None:
        headers.append(spec.auth_header)
    return headers


def build_http_bidders(
    specs: Iterable[ExternalBidderSpec],
    transport_for: Callable[[ExternalBidderSpec], httpx.AsyncBaseTransport],
    *,
    metrics: HttpBidderMetrics | None = None,
    failure_threshold: int = 5,
    cooldown_s: float = 5.0,
    backstop_timeout_s: float = 1.0,
) -> list[HttpBidder]:
    """One HttpBidder per spec, sharing one BodyCache (what makes the encode-once work)."""
    bodies = BodyCache()
    return [
        HttpBidder(
            spec,
            transport_for(spec),
            bodies=bodies,
            metrics=metrics,
            failure_threshold=failure_threshold,
            cooldown_s=cooldown_s,
            backstop_timeout_s=backstop_timeout_s,
        )
        for spec in specs
    ]
