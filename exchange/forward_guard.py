"""Where the exchange may send a DSP's own notice URL: public addresses only.

A DSP chooses its ``nurl``/``burl``/``lurl``, and the exchange fires them from inside the
operator's network: without a check, a bid could make the exchange call a metadata service,
a Redis port or an admin page (server-side request forgery). So a URL is forwarded only over
http(s), to a host whose every resolved address is globally routable — no loopback,
private, link-local, multicast or reserved ranges — unless the operator allows private
networks (tests, or DSPs inside the same private network).

Resolution happens on the forwarder's worker, off the request path. The HTTP client resolves
the name again when it connects; a DNS answer that changes in between (rebinding) is the
residual risk, bounded by the forwarder sending only GETs whose answers it discards.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

RESOLVE_TIMEOUT_S = 2.0
"""A name that takes longer to resolve is not fetched (a worker must not hang on DNS)."""

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) → the IP addresses it resolves to."""


_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
"""The well-known NAT64 prefix: the last 32 bits are the IPv4 address it reaches."""
_REFUSED_V6: Final = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated): ``::127.0.0.1``
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use (RFC 8215)
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4, Teredo client), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public(address: str) -> bool:
    """Whether an IP address is globally routable.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo) is judged
    by both: ``64:ff9b::7f00:1`` reaches 127.0.0.1 through a NAT64 gateway. The deprecated
    IPv4-compatible range and local-use NAT64 are refused whole.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _REFUSED_V6):
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            if ip.ipv4_mapped is not None:
                ip = embedded  # the mapped form *is* the IPv4 address
            elif not (embedded.is_global and not embedded.is_multicast):
                return False
    return ip.is_global and not ip.is_multicast


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The addresses the operating system resolves ``host`` to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def refusal(url: str, resolver: Resolver, *, allow_private: bool) -> str | None:
    """Why ``url`` must not be fetched (None: it may)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "malformed URL"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'}"
    host = parts.hostname
    if not host:
        return "no host"
    if allow_private:
        return None
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            addresses = [host] if _is_ip(host) else await resolver(host, port)
    except (OSError, TimeoutError):
        return "host does not resolve"
    if not addresses:
        return "host does not resolve"
    if not all(is_public(address) for address in addresses):
        return "non-public address"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
