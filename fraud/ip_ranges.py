"""Data-centre, cloud and hosting IP ranges (no-bid reason 5), looked up in memory.

Loaded once from a file at start-up (``RTB_IVT_DATACENTER_FILE``, else the shipped
``fraud/data/datacenter_ranges.txt``); to refresh, replace the file and restart. Nothing is
fetched over the network, at start-up or per request. Three formats are read, each also
gzip-compressed (recognised by its magic bytes):

* plain text, one ``CIDR [provider]`` per line, ``#`` comments;
* JSON ``{"provider": ["CIDR", …], …}``;
* the providers' own published JSON: AWS ``ip-ranges.json`` (``prefixes[].ip_prefix``,
  ``ipv6_prefixes[].ipv6_prefix``) and Google Cloud ``cloud.json``
  (``prefixes[].ipv4Prefix`` / ``ipv6Prefix``).

The shipped file is generated, not written by hand: the address ranges of cloud and
hosting providers' autonomous systems, taken from ip-location-db's IP-to-ASN data (an npm
package, CC BY 4.0) by ``python -m fraud.build_datacenter_ranges``; its header names the
source, version, licence and every ASN. No maintained library ships such ranges for
offline use: cloudcheck fetches its signature file over the network on first lookup.

CIDRs are parsed with ``inet_pton`` and integer masks, not ``ipaddress`` (a fifth of the
cost: the shipped 20,940 lines load in ~0.1 s), and merged into sorted, disjoint intervals
of integers: one bisect per lookup.
"""

import bisect
import gzip
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson

DEFAULT_RANGES_FILE: Final = Path(__file__).parent / "data" / "datacenter_ranges.txt"

_PUBLISHED_FIELDS: Final = (
    ("ip_prefix", "aws"),
    ("ipv6_prefix", "aws"),
    ("ipv4Prefix", "google"),
    ("ipv6Prefix", "google"),
)
"""Range fields of AWS ``ip-ranges.json`` and Google Cloud ``cloud.json``."""
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BITS: Final = {4: 32, 6: 128}


IpValue = tuple[int, int]
"""(IP version, the address as an integer): what every lookup takes."""

Span = tuple[int, int, int, str]
"""(IP version, first address, last address, provider): one range, both ends included."""


def ip_value(text: str) -> IpValue | None:
    """``text`` as (version, integer), None when it is not an address; ~0.2 µs, a tenth
    of ``ipaddress.ip_address`` (measured by the screening benchmark's profile)."""
    try:
        if ":" in text:
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        return None


def cidr_span(text: str) -> tuple[int, int, int]:
    """``text``, a CIDR (host bits allowed, as ``strict=False``) or one address, as
    (version, first, last); ValueError when it is neither."""
    address, slash, length = text.partition("/")
    try:
        if ":" in address:
            version, bits, packed = 6, 128, socket.inet_pton(socket.AF_INET6, address)
        else:
            version, bits, packed = 4, 32, socket.inet_pton(socket.AF_INET, address)
    except (OSError, ValueError):
        raise ValueError(f"{text!r} is not an IP network") from None
    prefix = bits if not slash else int(length) if length.isascii() and length.isdigit() else -1
    if not 0 <= prefix <= bits:
        raise ValueError(f"{text!r}: the prefix length must be 0 to {bits}")
    host = (1 << (bits - prefix)) - 1
    first = int.from_bytes(packed) & ~host
    return version, first, first | host


class IpRanges:
    """Disjoint address intervals, each with the provider that owns it."""

    def __init__(self, spans: Iterable[Span]) -> None:
        merged: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for version, first, last, provider in sorted(spans, key=lambda s: (s[0], s[1])):
            out = merged[version]
            if out and (
                first <= out[-1][1] or (first == out[-1][1] + 1 and provider == out[-1][2])
            ):
                # overlapping: the first listed keeps it; touching: one span per provider
                start, end, owner = out[-1]
                out[-1] = (start, max(end, last), owner)
            else:
                out.append((first, last, provider))
        self._starts = {v: [s[0] for s in out] for v, out in merged.items()}
        self._spans = merged
        self.size = sum(len(out) for out in merged.values())

    @classmethod
    def load(cls, path: Path = DEFAULT_RANGES_FILE) -> "IpRanges":
        """The ranges of ``path``; ValueError naming the line or entry that is not a CIDR."""
        data = path.read_bytes()
        if data[:2] == _GZIP_MAGIC:
            data = gzip.decompress(data)
        if data.lstrip()[:1] in (b"{", b"["):
            return cls(_from_json(orjson.loads(data)))
        return cls(_from_text(data.decode()))

    @classmethod
    def of(cls, cidrs: Iterable[str], provider: str) -> "IpRanges":
        """The ranges of ``cidrs``, all owned by ``provider``."""
        return cls((*cidr_span(cidr), provider) for cidr in cidrs)

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

    def providers(self) -> dict[str, int]:
        """How many merged spans each provider has (to check a ranges file)."""
        counts: dict[str, int] = {}
        for out in self._spans.values():
            for _, _, provider in out:
                counts[provider] = counts.get(provider, 0) + 1
        return counts


def _span(text: str, provider: str, where: str) -> Span:
    try:
        return (*cidr_span(text.strip()), provider)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _from_text(text: str) -> list[Span]:
    """Hot at start-up (tens of thousands of lines): comment lines skipped first, one call
    per range line."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line[:1] == "#":
            continue
        words = (line.split("#", 1)[0] if "#" in line else line).split()
        if words:
            try:
                version, first, last = cidr_span(words[0])
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from exc
            found.append((version, first, last, " ".join(words[1:]) or "datacenter"))
    return found


def _from_json(data: Any) -> list[Span]:
    found = []
    if isinstance(data, dict) and isinstance(data.get("prefixes"), list):  # AWS, Google
        for key in ("prefixes", "ipv6_prefixes"):
            for entry in data.get(key) or ():
                for field, provider in _PUBLISHED_FIELDS:
                    if isinstance(entry, dict) and field in entry:
                        where = f"{key}[]: {entry[field]!r}"
                        found.append(_span(str(entry[field]), provider, where))
        return found
    if not isinstance(data, dict):
        raise ValueError('expected {"provider": ["CIDR", ...]} or a provider\'s ranges JSON')
    for provider, cidrs in data.items():
        if not isinstance(cidrs, list):
            raise ValueError(f"{provider}: expected a list of CIDRs")
        found += [_span(str(cidr), str(provider), f"{provider}: {cidr!r}") for cidr in cidrs]
    return found
