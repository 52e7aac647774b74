"""DSP notice URLs are fired only at public addresses (no SSRF into the operator's network)."""

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from exchange.forward_guard import Resolver, is_public, refusal
from exchange.forwarder import NoticeForwarder
from exchange.metrics import Metrics


def resolver(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolve


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata service
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("224.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible loopback
        ("::8.8.8.8", False),  # IPv4-compatible: deprecated, refused whole
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata service
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("::ffff:8.8.8.8", True),  # IPv4-mapped public
    ],
)
def test_only_globally_routable_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("https://dsp.example/win?p=1", ("93.184.216.34",), None),
        ("http://169.254.169.254/latest/meta-data/", (), "non-public address"),
        ("http://[::1]:6379/", (), "non-public address"),
        ("http://[::127.0.0.1]:6379/", (), "non-public address"),
        ("http://[64:ff9b::7f00:1]/", (), "non-public address"),
        ("https://internal.example/", ("10.0.0.5",), "non-public address"),
        ("https://mixed.example/", ("93.184.216.34", "127.0.0.1"), "non-public address"),
        ("https://nowhere.example/", (), "host does not resolve"),
        ("file:///etc/passwd", (), "scheme file"),
        ("gopher://dsp.example/", (), "scheme gopher"),
        ("http:///path-only", (), "no host"),
        ("http://[not-an-ip/", (), "malformed URL"),
    ],
)
async def test_urls_into_private_networks_are_refused(
    url: str, addresses: tuple[str, ...], reason: str | None
) -> None:
    assert await refusal(url, resolver(*addresses), allow_private=False) == reason


async def test_private_networks_can_be_allowed_but_schemes_still_checked() -> None:
    assert await refusal("http://127.0.0.1:9/", resolver(), allow_private=True) is None
    assert await refusal("ftp://127.0.0.1/", resolver(), allow_private=True) == "scheme ftp"


async def test_the_forwarder_never_connects_to_a_refused_url() -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200)

    metrics = Metrics()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        forwarder = NoticeForwarder(
            client,
            metrics,
            concurrency=1,
            queue_size=10,
            retries=0,
            resolver=resolver("93.184.216.34"),
        )
        forwarder.submit("http://127.0.0.1:6379/")
        forwarder.submit("https://dsp.example/win")
        await asyncio.wait_for(forwarder.aclose(), 5)
    assert requested == ["https://dsp.example/win"]
    assert metrics.forwards.labels("refused")._value.get() == 1
    assert metrics.forwards.labels("sent")._value.get() == 1
