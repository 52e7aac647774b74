"""Data-centre, cloud and hosting IP ranges (no-bid reason 5), looked up in memory.

Loaded once from a file at start-up (``RTB_IVT_DATACENTER_FILE``; ``reload`` re-reads it,
so an operator can refresh the ranges without a restart). Three formats are read:

* plain text, one ``CIDR [provider]`` per line, ``#`` comments;
* JSON ``{"provider": ["CIDR", …], …}``;
* the providers' own published JSON: AWS ``ip-ranges.json`` (``prefixes[].ip_prefix``,
  ``ipv6_prefixes[].ipv6_prefix``) and Google Cloud ``cloud.json``
  (``prefixes[].ipv4Prefix`` / ``ipv6Prefix``).

No library ships these ranges for offline use: cloudcheck (11.x) fetches its signature
file over the network on first lookup and caches it, which the hot path must not do, so its
data is brought in the same way as the providers' — exported to a file — and the
file shipped here (``fraud/data/datacenter_ranges.txt``) is only a seed of a few published
ranges. Ranges are merged into sorted, disjoint intervals of integers: one bisect per
lookup.
"""

import bisect
import ipaddress
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson

DEFAULT_RANGES_FILE: Final = Path(__file__).parent / "data" / "datacenter_ranges.txt"

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_PUBLISHED_FIELDS: Final = (
    ("ip_prefix", "aws"),
    ("ipv6_prefix", "aws"),
    ("ipv4Prefix", "google"),
    ("ipv6Prefix", "google"),
)
"""Range fields of AWS ``ip-ranges.json`` and Google Cloud ``cloud.json``."""


IpValue = tuple[int, int]
"""(IP version, the address as an integer): what every lookup takes."""


def ip_value(text: str) -> IpValue | None:
    """``text`` as (version, integer), None when it is not an address; ~0.2 µs, a tenth
    of ``ipaddress.ip_address`` (measured by the screening benchmark's profile)."""
    try:
        if ":" in text:
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        return None


class IpRanges:
    """Disjoint address intervals, each with the provider that owns it."""

    def __init__(self, networks: Iterable[tuple[_Net, str]]) -> None:
        merged: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for net, provider in sorted(
            networks, key=lambda item: (item[0].version, int(item[0].network_address))
        ):
            spans = merged[net.version]
            start, end = int(net.network_address), int(net.broadcast_address)
            if spans and start <= spans[-1][1] + 1:
                last = spans[-1]
                spans[-1] = (last[0], max(last[1], end), last[2])
            else:
                spans.append((start, end, provider))
        self._starts = {v: [s[0] for s in spans] for v, spans in merged.items()}
        self._spans = merged
        self.size = sum(len(spans) for spans in merged.values())

    @classmethod
    def load(cls, path: Path = DEFAULT_RANGES_FILE) -> "IpRanges":
        """The ranges of ``path``; ValueError naming the line or entry that is not a CIDR."""
        text = path.read_bytes()
        if text.lstrip()[:1] in (b"{", b"["):
            return cls(_from_json(orjson.loads(text)))
        return cls(_from_text(text.decode()))

    @classmethod
    def of(cls, cidrs: Iterable[str], provider: str) -> "IpRanges":
        """The ranges of ``cidrs``, all owned by ``provider``."""
        return cls((_network(cidr, cidr), provider) for cidr in cidrs)

    def provider(self, ip: IpValue) -> str | None:
        """Who owns ``ip`` when it is in a listed range, else None."""
        version, value = ip
        starts = self._starts[version]
        index = bisect.bisect_right(starts, value) - 1
        if index < 0:
            return None
        start, end, provider = self._spans[version][index]
        return provider if start <= value <= end else None

    def provider_of(self, text: str) -> str | None:
        """``provider`` of an address written as text (None when it is not one)."""
        ip = ip_value(text)
        return self.provider(ip) if ip is not None else None


def _network(text: str, where: str) -> _Net:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _from_text(text: str) -> list[tuple[_Net, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if words:
            provider = " ".join(words[1:]) or "datacenter"
            found.append((_network(words[0], f"line {number}"), provider))
    return found


def _from_json(data: Any) -> list[tuple[_Net, str]]:
    found = []
    if isinstance(data, dict) and isinstance(data.get("prefixes"), list):  # AWS, Google
        for key in ("prefixes", "ipv6_prefixes"):
            for entry in data.get(key) or ():
                for field, provider in _PUBLISHED_FIELDS:
                    if isinstance(entry, dict) and field in entry:
                        where = f"{key}[]: {entry[field]!r}"
                        found.append((_network(str(entry[field]), where), provider))
        return found
    if not isinstance(data, dict):
        raise ValueError('expected {"provider": ["CIDR", ...]} or a provider\'s ranges JSON')
    for provider, cidrs in data.items():
        if not isinstance(cidrs, list):
            raise ValueError(f"{provider}: expected a list of CIDRs")
        found += [(_network(str(cidr), f"{provider}: {cidr!r}"), str(provider)) for cidr in cidrs]
    return found
