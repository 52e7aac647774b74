"""Appending the exchange's node to the supply chain."""

from openrtb.codec import encode_request
from openrtb.request import BidRequest, SupplyChainNode
from openrtb.schain import with_node
from tests.builders import banner_request

NODE = SupplyChainNode(asi="exchange.example", sid="pub-8953", hp=1, rid="req-1")


def test_node_is_appended_to_an_upstream_chain_and_the_input_is_unchanged() -> None:
    request = BidRequest.model_validate(banner_request())
    passed_on = with_node(request, NODE)
    assert request.source is not None
    assert request.source.schain is not None
    assert len(request.source.schain.nodes) == 1
    assert passed_on.source is not None
    assert passed_on.source.schain is not None
    nodes = passed_on.source.schain.nodes
    assert [n.asi for n in nodes] == ["ssp.example", "exchange.example"]
    assert passed_on.source.schain.complete == 1
    assert passed_on.source.tid == "tid-2c7e9b1d"


def test_a_request_without_a_chain_gets_an_incomplete_one() -> None:
    raw = banner_request()
    del raw["source"]
    passed_on = with_node(BidRequest.model_validate(raw), NODE)
    assert b'"schain":{"complete":0,"nodes":[{"asi":"exchange.example"' in encode_request(passed_on)


def test_a_chain_sent_the_2_5_way_is_moved_into_source_schain() -> None:
    raw = banner_request()
    chain = raw["source"].pop("schain")
    raw["source"]["ext"] = {"schain": chain, "other": 1}
    passed_on = with_node(BidRequest.model_validate(raw), NODE)
    assert passed_on.source is not None
    assert passed_on.source.schain is not None
    assert [n.asi for n in passed_on.source.schain.nodes] == ["ssp.example", "exchange.example"]
    assert passed_on.source.schain.complete == 1
    assert passed_on.source.ext == {"other": 1}
