"""The supply path the ``auction`` event records: 2.6 and 2.5 chains read alike, bounded."""

from typing import Any

from openrtb.codec import decode_request
from openrtb.request import BidRequest
from supply.paths import MAX_NODES, MAX_PART, NO_SCHAIN, supply_path
from tests.builders import banner_request


def _chain(*nodes: tuple[str, str], complete: int = 1) -> dict[str, Any]:
    return {"complete": complete, "ver": "1.0",
            "nodes": [{"asi": a, "sid": s, "hp": 1} for a, s in nodes]}  # fmt: skip


def test_2_6_and_2_5_chains_give_the_same_path() -> None:
    chain = _chain(("pub.example", "p1"), ("reseller.example", "r9"))
    v26 = BidRequest.model_validate(banner_request(source={"tid": "t", "schain": chain}))
    v25 = BidRequest.model_validate(banner_request(source={"tid": "t", "ext": {"schain": chain}}))
    for request in (v26, v25):
        path = supply_path(request)
        assert path.fields() == {
            "schain": "pub.example:p1>reseller.example:r9",
            "hops": 2,
            "schain_complete": 1,
        }


def test_a_decoded_2_5_request_reads_the_same() -> None:
    import orjson

    chain = _chain(("pub.example", "p1"), complete=0)
    body = orjson.dumps(banner_request(source={"ext": {"schain": chain}}))
    path = supply_path(decode_request(body))
    assert (path.key, path.hops, path.complete) == ("pub.example:p1", 1, 0)


def test_no_chain() -> None:
    body = banner_request()
    del body["source"]
    path = supply_path(BidRequest.model_validate(body))
    assert (path.key, path.hops, path.complete) == (NO_SCHAIN, 0, None)


def test_a_hostile_chain_is_bounded() -> None:
    nodes = [("x" * 10_000, f"s>{i}:;|\n") for i in range(5_000)]
    request = BidRequest.model_validate(banner_request(source={"schain": _chain(*nodes)}))
    path = supply_path(request)
    assert path.hops == 5_000
    assert path.key.endswith(f">+{5_000 - MAX_NODES}")
    items = path.key.split(">")
    assert len(items) == MAX_NODES + 1
    asi, sid = items[0].split(":")
    assert asi == "x" * MAX_PART
    assert sid == "s_0____"
    assert len(path.key) <= MAX_NODES * (2 * MAX_PART + 2) + 8
