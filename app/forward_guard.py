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
from urllib.parse import urlsplit

RESOLVE_TIMEOUT_S = 2.0
"""A name that takes longer to resolve is not fetched (a worker must not hang on DNS)."""

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) → the IP addresses it resolves to."""


def is_public(address: str) -> bool:
    """Whether an IP address is globally routable (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
