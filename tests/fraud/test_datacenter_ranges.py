"""The shipped data-centre ranges, the CIDR parser that loads them, and their generator."""

import hashlib
import io
import ipaddress
import re
import tarfile
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraud.build_datacenter_ranges import (
    EXCLUDED_ASNS,
    HOSTING_ASNS,
    HostingAsn,
    main,
    problems,
    read,
    render,
)
from fraud.ip_ranges import DEFAULT_RANGES_FILE, IpRanges, cidr_span


@pytest.fixture(scope="module")
def shipped() -> IpRanges:
    return IpRanges.load(DEFAULT_RANGES_FILE)


def test_the_shipped_file_is_a_full_data_set_of_a_sane_size(shipped: IpRanges) -> None:
    assert DEFAULT_RANGES_FILE.stat().st_size < 2_000_000
    assert shipped.size > 10_000  # merged spans; the seed it replaced had 23 ranges
    counts = shipped.providers()
    assert counts["aws"] > 3_000
    assert {"google-cloud", "microsoft-azure", "oracle-cloud", "digitalocean"} <= set(counts)
    assert len(counts) == len({entry.provider for entry in HOSTING_ASNS})


@pytest.mark.parametrize(
    ("ip", "provider"),
    [
        ("3.5.141.1", "aws"),  # ip-ranges.json: 3.5.140.0/22, ap-northeast-2
        ("44.192.0.1", "aws"),  # 44.192.0.0/10, bought from AMPRNet in 2019
        ("2600:1f14::1", "aws"),  # ip-ranges.json: 2600:1f14::/35, us-west-2
        ("54.222.128.1", "aws"),  # AWS China (Beijing), AS55960
        ("35.190.0.1", "google-cloud"),
        ("34.64.0.1", "google-cloud"),
        ("168.62.20.37", "microsoft-azure"),  # cloudcheck's own example
        ("20.64.0.1", "microsoft-azure"),
        ("129.146.0.1", "oracle-cloud"),
        ("169.60.0.1", "ibm-cloud"),
        ("47.96.0.1", "alibaba-cloud"),
        ("43.136.0.1", "tencent-cloud"),
        ("159.203.10.20", "digitalocean"),  # a NYC droplet
        ("2604:a880::1", "digitalocean"),
        ("88.198.1.1", "hetzner"),
        ("2a01:4f8:c17:1::1", "hetzner"),
        ("51.38.0.1", "ovh"),
        ("139.162.0.1", "linode"),
        ("2600:3c00::1", "linode"),
        ("45.76.0.1", "vultr"),
        ("2001:19f0::1", "vultr"),
        ("163.172.0.1", "scaleway"),
        ("5.189.128.1", "contabo"),
        ("85.17.0.1", "leaseweb"),
    ],
)
def test_known_provider_addresses_are_listed(shipped: IpRanges, ip: str, provider: str) -> None:
    assert shipped.provider_of(ip) == provider


@pytest.mark.parametrize(
    "ip",
    [
        "1.1.1.1",  # Cloudflare DNS (AS13335: CDN, WARP, iCloud Private Relay)
        "104.28.28.1",  # iCloud Private Relay egress through Cloudflare
        "172.225.67.1",  # iCloud Private Relay egress through Akamai (AS36183)
        "146.75.0.1",  # Fastly
        "23.0.0.1",  # Akamai's CDN (AS20940)
        "8.8.8.8",  # Google public DNS: AS15169, left out with Google's own services
        "2001:4860:4860::8888",
        "142.250.0.1",  # Google services (AS15169)
        "13.107.42.14",  # Microsoft 365 front ends (AS8068), not Azure
        "17.0.0.1",  # Apple
        "81.2.69.160",  # UK broadband (Andrews & Arnold)
        "24.5.6.7",  # US cable (Comcast)
        "172.56.0.1",  # US mobile (T-Mobile)
        "2607:fb90::1",  # T-Mobile IPv6
    ],
)
def test_people_s_networks_are_not_listed(shipped: IpRanges, ip: str) -> None:
    assert shipped.provider_of(ip) is None


def test_the_shipped_file_was_generated_from_the_current_asn_list() -> None:
    header = [line for line in DEFAULT_RANGES_FILE.read_text().splitlines() if line[:1] == "#"]
    text = "\n".join(header)
    assert "@ip-location-db/asn@" in text
    assert "CC BY 4.0" in text
    assert re.search(r"sha256 [0-9a-f]{64}", text)
    listed = {int(asn) for asn in re.findall(r"^#   AS(\d+) \S+ '", text, re.MULTILINE)}
    assert listed == {entry.asn for entry in HOSTING_ASNS}  # regenerate after editing the list


def test_no_hosting_asn_is_an_excluded_one() -> None:
    assert not {entry.asn for entry in HOSTING_ASNS} & set(EXCLUDED_ASNS)
    assert len({entry.asn for entry in HOSTING_ASNS}) == len(HOSTING_ASNS)


_NETWORKS = st.one_of(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: f"{ipaddress.IPv4Address(t[0])}/{t[1]}"
    ),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: f"{ipaddress.IPv6Address(t[0])}/{t[1]}"
    ),
)


@given(_NETWORKS)
def test_cidr_span_agrees_with_ipaddress(text: str) -> None:
    network = ipaddress.ip_network(text, strict=False)
    expected = (network.version, int(network.network_address), int(network.broadcast_address))
    assert cidr_span(text) == expected


@pytest.mark.parametrize(
    "text", ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "1.2.3", "x/8"]
)
def test_cidr_span_refuses_what_is_not_a_network(text: str) -> None:
    with pytest.raises(ValueError, match=r"network|prefix length"):
        cidr_span(text)


def test_touching_ranges_merge_only_within_a_provider() -> None:
    spans = [(*cidr_span(c), p) for c, p in [("1.0.0.0/24", "a"), ("1.0.1.0/24", "a")]]
    assert IpRanges(spans).size == 1
    spans.append((*cidr_span("1.0.2.0/24"), "b"))
    ranges = IpRanges(spans)
    assert ranges.size == 2
    assert ranges.provider_of("1.0.2.1") == "b"


# The generator, on a tarball laid out as `npm pack @ip-location-db/asn` downloads it.

_IPV4_ROWS = """\
1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
3.5.140.0,3.5.141.255,16509,"Amazon.com, Inc."
3.5.142.0,3.5.143.255,16509,"Amazon.com, Inc."
3.5.144.0,3.5.144.255,7922,"Comcast Cable Communications, LLC"
159.203.0.0,159.203.2.255,14061,"DigitalOcean, LLC"
"""
_IPV6_ROWS = '2604:a880::,2604:a880:ffff:ffff:ffff:ffff:ffff:ffff,14061,"DigitalOcean, LLC"\n'
_SMALL_LIST = (HostingAsn(16509, "aws", r"^amazon"), HostingAsn(14061, "digitalocean", r"digit"))


def _tarball(path: Path, ipv4: str = _IPV4_ROWS) -> Path:
    files = {
        "package/package.json": orjson.dumps({"name": "@ip-location-db/asn", "version": "9.9.1"}),
        "package/asn-ipv4.csv": ipv4.encode(),
        "package/asn-ipv6.csv": _IPV6_ROWS.encode(),
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_generator_keeps_the_listed_asns_as_cidrs(tmp_path: Path) -> None:
    source = _tarball(tmp_path / "asn.tgz")
    selection = read([source], _SMALL_LIST)
    assert problems(selection, _SMALL_LIST) == []
    text = render(selection, _SMALL_LIST)
    lines = [line for line in text.splitlines() if line[:1] != "#"]
    assert lines == [
        "3.5.140.0/22 aws",  # two adjacent rows, one CIDR
        "159.203.0.0/23 digitalocean",  # a range that is no CIDR: the fewest that cover it
        "159.203.2.0/24 digitalocean",
        "2604:a880::/32 digitalocean",
    ]
    assert f"sha256 {hashlib.sha256(source.read_bytes()).hexdigest()}" in text
    assert "npm @ip-location-db/asn@9.9.1" in text
    assert "AS16509 aws 'Amazon.com, Inc.' (2 / 0)" in text
    assert render(read([source], _SMALL_LIST), _SMALL_LIST) == text  # deterministic
    out = tmp_path / "ranges.txt"
    out.write_text(text)
    ranges = IpRanges.load(out)
    assert ranges.provider_of("3.5.143.9") == "aws"
    assert ranges.provider_of("3.5.144.1") is None  # Comcast, next door
    assert ranges.provider_of("1.0.0.1") is None


def test_the_generator_reads_plain_csv_files(tmp_path: Path) -> None:
    ipv4 = tmp_path / "asn-ipv4.csv"
    ipv4.write_text(_IPV4_ROWS)
    selection = read([ipv4], _SMALL_LIST)
    digest = hashlib.sha256(ipv4.read_bytes()).hexdigest()
    assert selection.source == [f"asn-ipv4.csv: sha256 {digest}"]
    assert sorted(selection.ranges) == ["aws", "digitalocean"]


def test_an_asn_named_for_someone_else_stops_the_build(tmp_path: Path) -> None:
    renumbered = _IPV4_ROWS.replace('14061,"DigitalOcean, LLC"', '14061,"Comcast Cable"')
    found = problems(read([_tarball(tmp_path / "asn.tgz", renumbered)], _SMALL_LIST), _SMALL_LIST)
    assert found == ["AS14061 (digitalocean): named 'Comcast Cable' in the data"]


def test_the_command_writes_nothing_when_the_data_lacks_the_listed_asns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ranges.txt"
    assert main([str(_tarball(tmp_path / "asn.tgz")), "--out", str(out)]) == 1
    assert not out.exists()
    assert "AS396982 (google-cloud): not in the data" in capsys.readouterr().err


def test_a_row_that_is_no_range_names_its_file_and_row(tmp_path: Path) -> None:
    broken = _IPV4_ROWS.replace("3.5.142.0,3.5.143.255", "3.5.143.255,3.5.142.0")
    with pytest.raises(ValueError, match=r"asn\.tgz/asn-ipv4\.csv: row 3: not a range"):
        read([_tarball(tmp_path / "asn.tgz", broken)], _SMALL_LIST)
