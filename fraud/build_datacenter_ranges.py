"""Write ``fraud/data/datacenter_ranges.txt`` from an IP-to-ASN table (run by hand, not served).

The data-centre check needs the ranges of cloud and hosting providers as a file shipped with
the package. They are taken from ip-location-db's IP-to-ASN table, the npm package
``@ip-location-db/asn`` (RouteViews, the RIRs' statistics and DB-IP's ASN Lite merged;
CC BY 4.0): every range whose autonomous system is in ``HOSTING_ASNS``. Each ASN's
organisation name in the data must match the provider's, or the build stops, so a
renumbered or mistyped ASN cannot slip someone's home broadband into the list. The output
is deterministic (the same tarball gives the same file) and names its source, licence and
every ASN in its header::

    npm pack @ip-location-db/asn                    # the tarball, not installed
    python -m fraud.build_datacenter_ranges ip-location-db-asn-*.tgz

Also reads the table's CSV files directly (``start,end,asn,organisation`` rows, the format
of ``asn-ipv4.csv`` / ``asn-ipv6.csv`` in the package and in ip-location-db's releases).
"""

import argparse
import csv
import hashlib
import io
import ipaddress
import re
import sys
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson

from fraud.ip_ranges import DEFAULT_RANGES_FILE, ip_value

__all__ = ["EXCLUDED_ASNS", "HOSTING_ASNS", "HostingAsn", "Selection", "main", "read", "render"]


@dataclass(frozen=True, slots=True)
class HostingAsn:
    """An autonomous system listed whole: every address it originates is a server's."""

    asn: int
    provider: str
    """The label a finding carries (``detail`` of a datacenter finding)."""
    org: str
    """A regular expression the AS organisation named in the data must match (any case)."""


def _asns(provider: str, org: str, *asns: int) -> tuple[HostingAsn, ...]:
    return tuple(HostingAsn(asn, provider, org) for asn in asns)


_LEASEWEB: Final = (
    60781, 28753, 16265, 30633, 395954, 7203, 27411, 19148, 396190, 396362, 394380, 393886,
    32613, 59253, 133752, 134351, 205544,
)  # fmt: skip
"""Leaseweb's ASNs: one per country (and several in the US)."""

HOSTING_ASNS: Final = (
    # Public clouds: only the ASNs that carry customers' machines.
    *_asns("aws", r"^amazon", 16509, 14618, 8987, 214101),  # AMAZON-02, -AES, Ireland, EU SC
    *_asns("aws", r"^beijing guanghuan xinwang", 55960),  # AWS China (Beijing), run by Sinnet
    *_asns("aws", r"^ningxia west cloud", 135629),  # AWS China (Ningxia), run by NWCD
    *_asns("google-cloud", r"^google llc$", 396982),  # GOOGLE-CLOUD-PLATFORM (not 15169)
    *_asns("microsoft-azure", r"^microsoft corporation$", 8075),  # Azure's public ranges
    *_asns("microsoft-azure", r"^shanghai blue cloud", 58593),  # Azure China, run by 21Vianet
    *_asns("oracle-cloud", r"^oracle", 31898),  # ORACLE-BMC (OCI)
    *_asns("ibm-cloud", r"ibm cloud|softlayer", 36351),
    *_asns("alibaba-cloud", r"alibaba", 45102, 134963, 37963),
    *_asns("tencent-cloud", r"tencent", 132203, 45090, 133478),
    *_asns("huawei-cloud", r"huawei", 136907, 55990),
    *_asns("yandex-cloud", r"^yandex\.cloud", 200350),
    # Virtual and dedicated servers.
    *_asns("digitalocean", r"^digitalocean", 14061),
    *_asns("linode", r"^akamai technologies|linode", 63949),  # Linode's ASN, Akamai's since 2022
    *_asns("vultr", r"^the constant company|vultr|choopa", 20473),
    *_asns("hetzner", r"^hetzner online", 24940, 213230, 212317, 215859),
    *_asns("ovh", r"^ovh sas$", 16276),  # not 35540, OVH Télécom's broadband
    *_asns("scaleway", r"^scaleway", 12876),
    *_asns("contabo", r"^contabo", 51167, 40021, 141995),
    *_asns("leaseweb", r"^leaseweb", *_LEASEWEB),
    *_asns("ionos", r"^ionos se$", 8560),  # hosting; 1&1's broadband is 8881, not listed
    *_asns("upcloud", r"^upcloud", 202053, 25697),
    *_asns("rackspace", r"^rackspace", 33070, 19994, 27357, 15395, 39921, 45187),
    *_asns("kamatera", r"^kamatera", 36007),
    *_asns("servers.com", r"^servers\.com", 7979),
    *_asns("hivelocity", r"^hivelocity", 29802),
    *_asns("interserver", r"^interserver", 19318),
    *_asns("psychz", r"^psychz", 40676),
    *_asns("hostpapa", r"^hostpapa", 36352, 54290),  # 36352 was ColoCrossing's
    *_asns("netcup", r"^netcup", 197540),
    *_asns("selectel", r"selectel", 49505, 50340),
    *_asns("timeweb", r"timeweb", 9123, 210976),
    *_asns("sakura-internet", r"^sakura internet", 7684, 9370, 9371),
    # Web hosting.
    *_asns("hostinger", r"^hostinger", 47583),
    *_asns("godaddy", r"^godaddy", 26496, 398101),
    *_asns("newfold-digital", r"^unified layer", 46606),  # Bluehost, HostGator
    *_asns("dreamhost", r"^new dream network", 26347),
    *_asns("liquid-web", r"^liquid web", 32244),
    *_asns("a2-hosting", r"^a2 hosting", 55293),
    *_asns("inmotion-hosting", r"^inmotion", 22611),
    *_asns("namecheap", r"^namecheap", 22612),
    *_asns("strato", r"^strato", 6724),
)
"""Cloud and hosting ASNs whose every range is listed. An ASN belongs here only when the
provider sells servers on it and nothing else: no home or mobile access, no transit for
other networks, no CDN edge, no relay that carries real people's browsing."""

EXCLUDED_ASNS: Final = {
    13335: "Cloudflare: CDN edge; WARP and iCloud Private Relay egress",
    209242: "Cloudflare: CDN edge, relay egress",
    20940: "Akamai: CDN edge",
    16625: "Akamai: CDN edge",
    36183: "Akamai: iCloud Private Relay egress",
    54113: "Fastly: CDN edge, iCloud Private Relay egress",
    15169: "Google: its own services; VPN by Google One and Pixel VPN egress",
    714: "Apple: its own services, relay ingress",
    8068: "Microsoft: Microsoft 365 front ends (not Azure)",
    22616: "Zscaler: corporate web gateway, every employee behind it",
    62044: "Zscaler: corporate web gateway, every employee behind it",
    9009: "M247: VPN exits beside access and transit customers",
    60068: "Datacamp: CDN77's edge beside VPN exits",
    212238: "Datacamp: CDN77's edge beside VPN exits",
    199524: "G-Core Labs: CDN edge",
    174: "Cogent: transit",
    21859: "Zenlayer: transit and edge",
    35540: "OVH Télécom: broadband",
    31034: "Aruba S.p.A.: hosting beside home fibre",
}
"""Networks that look like hosting but carry real people (or whose hosting cannot be told
apart from their other traffic by ASN): never listed, whatever ``HOSTING_ASNS`` says."""

_ROW_FILES: Final = ("asn-ipv4.csv", "asn-ipv6.csv")
"""The ``start,end,asn,organisation`` files of an ``@ip-location-db/asn`` tarball."""


@dataclass(slots=True)
class Selection:
    """The rows of the listed ASNs, per provider, and what the data says about each ASN."""

    source: list[str] = field(default_factory=list)
    """One line per input: file name, package version, SHA-256."""
    ranges: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    orgs: dict[int, Counter[str]] = field(default_factory=dict)
    rows: Counter[tuple[int, int]] = field(default_factory=Counter)
    """(ASN, IP version) → rows of the source."""


def _tables(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """What ``path`` is (name, npm version, SHA-256) and its ``start,end,asn,organisation``
    tables as (name, text): a tarball's two ASN files, or the one CSV file it is."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if not path.name.endswith((".tgz", ".tar.gz")):
        return f"{path.name}: sha256 {digest}", [(path.name, data.decode())]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        package = orjson.loads(_member(tar, "package/package.json"))
        tables = [
            (f"{path.name}/{name}", _member(tar, f"package/{name}").decode()) for name in _ROW_FILES
        ]
    return f"{path.name}: npm {package['name']}@{package['version']}, sha256 {digest}", tables


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise ValueError(f"{name} is not a file of the tarball")
    return member.read()


def read(paths: Sequence[Path], asns: Iterable[HostingAsn] = HOSTING_ASNS) -> Selection:
    """The ranges of ``asns`` in the sources; ValueError on a row that does not parse."""
    wanted = {entry.asn: entry.provider for entry in asns}
    selection = Selection()
    for path in paths:
        description, tables = _tables(path)
        selection.source.append(description)
        for name, text in tables:
            for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
                if len(row) != 4 or not row[2].isdigit() or int(row[2]) not in wanted:
                    continue
                asn = int(row[2])
                first, last = ip_value(row[0]), ip_value(row[1])
                if first is None or last is None or first[0] != last[0] or first > last:
                    raise ValueError(f"{name}: row {number}: not a range: {row[:2]}")
                version = first[0]
                selection.ranges.setdefault(wanted[asn], []).append((version, first[1], last[1]))
                selection.orgs.setdefault(asn, Counter())[row[3]] += 1
                selection.rows[asn, version] += 1
    return selection


def problems(selection: Selection, asns: Iterable[HostingAsn] = HOSTING_ASNS) -> list[str]:
    """Why the selection must not be written (empty when it may): an ASN missing from the
    data, named for another organisation, or on the excluded list."""
    found = []
    for entry in asns:
        if entry.asn in EXCLUDED_ASNS:
            found.append(f"AS{entry.asn} is excluded: {EXCLUDED_ASNS[entry.asn]}")
        orgs = selection.orgs.get(entry.asn)
        if not orgs:
            found.append(f"AS{entry.asn} ({entry.provider}): not in the data")
            continue
        for org in orgs:
            if not re.search(entry.org, org, re.IGNORECASE):
                found.append(f"AS{entry.asn} ({entry.provider}): named {org!r} in the data")
    return found


def _merged(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for version, first, last in sorted(ranges):
        if out and out[-1][0] == version and first <= out[-1][2] + 1:
            out[-1] = (version, out[-1][1], max(out[-1][2], last))
        else:
            out.append((version, first, last))
    return out


def _cidrs(version: int, first: int, last: int) -> Iterator[str]:
    kind = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for network in ipaddress.summarize_address_range(kind(first), kind(last)):
        yield network.with_prefixlen


def render(selection: Selection, asns: Sequence[HostingAsn] = HOSTING_ASNS) -> str:
    """The ranges file: a header saying where every line comes from, then ``CIDR provider``
    lines sorted by address (IPv4 first)."""
    lines: list[tuple[int, int, str]] = []
    counts: Counter[tuple[str, int]] = Counter()
    for provider, ranges in selection.ranges.items():
        for version, first, last in _merged(ranges):
            for cidr in _cidrs(version, first, last):
                lines.append((version, first, f"{cidr} {provider}"))
                counts[provider, version] += 1
    lines.sort()
    providers = sorted({entry.provider for entry in asns})
    total = {v: sum(n for (_, version), n in counts.items() if version == v) for v in (4, 6)}
    header = [
        "Data-centre, cloud and hosting ranges: the data-centre check (OpenRTB no-bid reason 5).",
        "GENERATED by `python -m fraud.build_datacenter_ranges SOURCE`: do not edit by hand;",
        "re-run it on a newer source (docs/traffic-quality.md, 'Refreshing the ranges').",
        "",
        "Source:",
        *(f"  {line}" for line in selection.source),
        "Data: ip-location-db's IP-to-ASN table (github.com/sapics/ip-location-db), built from",
        "  RouteViews (routeviews.org), the RIRs' delegation statistics (NRO, nro.net) and",
        "  DB-IP's IP to ASN Lite (db-ip.com): CC BY 4.0, creativecommons.org/licenses/by/4.0/.",
        "  Changes made here: only the ASNs below are kept; each provider's ranges are merged",
        "  and written as CIDRs.",
        "Selection: every range of each ASN below, whose organisation name in the data was",
        "  checked to be the provider's. Never listed (real people's traffic comes from them):",
        *(f"  AS{asn} {why}" for asn, why in EXCLUDED_ASNS.items()),
        "",
        f"Lines: {total[4]} IPv4 and {total[6]} IPv6 CIDRs. Per provider (IPv4 / IPv6 CIDRs):",
        *(f"  {p}: {counts[p, 4]} / {counts[p, 6]}" for p in providers),
        "",
        "ASN provider 'organisation in the data' (source rows IPv4 / IPv6):",
        *(
            f"  AS{entry.asn} {entry.provider} "
            f"{', '.join(repr(org) for org, _ in selection.orgs[entry.asn].most_common())} "
            f"({selection.rows[entry.asn, 4]} / {selection.rows[entry.asn, 6]})"
            for entry in asns
            if entry.asn in selection.orgs
        ),
    ]
    head = "\n".join(f"# {line}".rstrip() for line in header)
    return head + "\n" + "\n".join(line for _, _, line in lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Read the sources, check the ASNs against the data, write the file."""
    parser = argparse.ArgumentParser(
        prog="python -m fraud.build_datacenter_ranges",
        description="Write the data-centre ranges file from @ip-location-db/asn data.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("sources", nargs="+", type=Path, help="@ip-location-db/asn .tgz or CSVs")
    parser.add_argument("--out", type=Path, default=DEFAULT_RANGES_FILE, help="file to write")
    args = parser.parse_args(argv)
    selection = read(args.sources)
    found = problems(selection)
    if found:
        print("not written:", *found, sep="\n  ", file=sys.stderr)
        return 1
    text = render(selection)
    args.out.write_text(text)
    count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"{args.out}: {count} CIDRs, {len(text.encode()) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
