"""The CIDR parser that loads the data-centre ranges."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraud.ip_ranges import IpRanges, cidr_span

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
