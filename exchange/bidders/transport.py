"""The connections to external DSPs: one httpx transport (connection pool) per DSP origin.

Why per origin and not one shared ``httpx.AsyncClient``:

* the protocols differ per DSP, and httpx sets them per pool: h2c needs ``http1=False``
  (prior knowledge; with ``http1`` left on, an ``http://`` URL silently gets HTTP/1.1), h2
  over TLS offers ALPN ``h2`` and ``http/1.1``, and an ``http1.1`` DSP needs a pool of
  keep-alive connections sized for the auctions in flight;
* httpcore looks for a free connection by scanning the pool on every request
  (encode/httpcore#1035): with one pool for 50 DSPs every call scans ~50 connections and a
  busy pool starves the others (MEASURED.md: the shared HTTP/1.1 client collapsed, per-host
  clients did not). A pool per origin holds one HTTP/2 connection, so the scan is one item,
  and a slow DSP can exhaust only its own pool;
* the bidders call the transport (``handle_async_request``) rather than a client's
  ``send``: the client's per-call work (cookie jar, auth flow, redirect loop, header
  merging) buys nothing for a POST to a fixed URL, and the transport interface is the seam
  an alternative HTTP/2 engine plugs into (the exchange's own is called through
  ``send_raw``, without httpx's request and response objects at all).

Each pool gets its own ``ssl.SSLContext``: httpcore sets the ALPN list on the context it is
given at every connect, so pools with different protocols must not share one.

Connections are opened before the first auction (``prewarm``): a TLS handshake plus the
HTTP/2 preface takes several milliseconds of a 50 ms budget, and on HTTP/2 a cold pool hit
by many auctions at once may open several connections instead of one.
"""

import asyncio
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
import structlog

from exchange.bidders.config import ExternalBidderSpec
from exchange.bidders.config import Protocol as WireProtocol

__all__ = ["DspTransports", "OriginKey", "TransportOptions", "origin_of"]

log = structlog.get_logger("exchange.bidders.transport")

OriginKey = tuple[str, str, int, WireProtocol]
"""(scheme, host, port, protocol): DSPs with the same key share one pool."""

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How the pools are built (from the ``dsp_*`` settings)."""

    ca_file: Path | None = None
    """CA bundle that signs the DSPs' certificates; None: the certifi bundle."""
    http1_connections: int = 64
    """Keep-alive connections per ``http1.1`` DSP origin: one per call in flight."""
    h2_connections: int = 4
    """Connections per HTTP/2 origin. httpcore opens another when one reaches the peer's
    stream limit (often 100); the lean engine spreads requests over them, least-loaded
    first, opening another while every open one is busy."""
    keepalive_expiry_s: float = 300.0
    """Idle time before a pooled connection is closed: long, so auctions find them warm."""
    backstop_timeout_s: float = 1.0
    """httpx's per-phase timeouts, a backstop only: the deadline is the bidder's own."""


def origin_of(spec: ExternalBidderSpec) -> OriginKey:
    """The pool a DSP's calls go through."""
    parts = urlsplit(spec.endpoint)
    scheme = parts.scheme
    return (scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[scheme], spec.protocol)


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        return httpx.create_ssl_context()
    return ssl.create_default_context(cafile=str(ca_file))


def _transport(protocol: WireProtocol, options: TransportOptions) -> httpx.AsyncHTTPTransport:
    http2 = protocol != "http1.1"
    connections = options.h2_connections if http2 else options.http1_connections
    return httpx.AsyncHTTPTransport(
        verify=_ssl_context(options.ca_file),
        http1=protocol != "h2c",
        http2=http2,
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=options.keepalive_expiry_s,
        ),
        retries=0,
    )


@runtime_checkable
class _SeveralPerOrigin(Protocol):
    """An HTTP/2 engine that keeps several connections per origin (``h2_transport``)."""

    connections_per_origin: int


class DspTransports:
    """The pools of a registry's DSPs, created once per process and closed at shutdown."""

    def __init__(
        self,
        specs: Iterable[ExternalBidderSpec],
        options: TransportOptions | None = None,
        *,
        http2_engine: Callable[[ssl.SSLContext], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        """``http2_engine``: an alternative HTTP/2 transport (built once, given the TLS
        context) that carries every h2 and h2c origin itself; None: an httpx pool each. An
        engine with a ``connections_per_origin`` attribute gets ``options.h2_connections``
        (the factory is called with the TLS context only, so it is set here)."""
        self.options = options or TransportOptions()
        self._specs = tuple(specs)
        self._pools: dict[OriginKey, httpx.AsyncBaseTransport] = {}
        engine: httpx.AsyncBaseTransport | None = None
        for spec in self._specs:
            key = origin_of(spec)
            if key in self._pools:
                continue
            if http2_engine is not None and spec.protocol != "http1.1":
                if engine is None:
                    engine = http2_engine(_ssl_context(self.options.ca_file))
                    if isinstance(engine, _SeveralPerOrigin):
                        engine.connections_per_origin = self.options.h2_connections
                self._pools[key] = engine
            else:
                self._pools[key] = _transport(spec.protocol, self.options)

    @property
    def pools(self) -> Mapping[OriginKey, httpx.AsyncBaseTransport]:
        """Every pool by origin (for tests and the startup log)."""
        return self._pools

    def for_spec(self, spec: ExternalBidderSpec) -> httpx.AsyncBaseTransport:
        """The pool ``spec``'s calls go through; KeyError for a DSP not given at creation."""
        return self._pools[origin_of(spec)]

    def timeouts(self) -> dict[str, float]:
        """The backstop timeout extension every bid request carries (shared, read-only)."""
        t = self.options.backstop_timeout_s
        return {"connect": t, "read": t, "write": t, "pool": t}

    async def prewarm(self, timeout_s: float = 2.0) -> dict[str, str | None]:
        """Open one connection per DSP origin: an ``OPTIONS`` to its endpoint, status ignored.

        Returns, by DSP name of the first DSP of each origin, None when the connection is
        open or the reason it is not. A DSP that is down at startup is logged, not fatal:
        its breaker takes it out of the auctions until it answers.
        """
        first: dict[OriginKey, ExternalBidderSpec] = {}
        for spec in self._specs:
            first.setdefault(origin_of(spec), spec)
        results = await asyncio.gather(*(self._open(spec, timeout_s) for spec in first.values()))
        outcome = {spec.name: error for spec, error in zip(first.values(), results, strict=True)}
        for name, error in outcome.items():
            if error is not None:
                log.warning("dsp_prewarm_failed", bidder=name, error=error)
        return outcome

    async def _open(self, spec: ExternalBidderSpec, timeout_s: float) -> str | None:
        request = httpx.Request("OPTIONS", spec.endpoint, extensions={"timeout": self.timeouts()})
        try:
            async with asyncio.timeout(timeout_s):
                response = await self.for_spec(spec).handle_async_request(request)
                await response.aread()
                await response.aclose()
        except TimeoutError:
            return "timeout"
        except (httpx.HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    async def aclose(self) -> None:
        """Close every pool and its connections."""
        for pool in {id(pool): pool for pool in self._pools.values()}.values():
            await pool.aclose()
