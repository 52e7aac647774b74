"""GVL vendor ids in the bidders file: each DSP's, and the exchange's own (its routers')."""

import re

import orjson
import pytest

from bidding.campaigns import ConfigError
from exchange.bidders.config import parse_bidders
from exchange.settings import Settings
from exchange.wiring import exchange_config

DSP = {"name": "acme-dsp", "endpoint": "https://bid.acme.example/rtb"}


def test_vendor_ids_reach_the_exchange_config() -> None:
    data = orjson.dumps(
        {"gvl_vendor_id": 1234, "dsps": [{**DSP, "gvl_vendor_id": 755}, {**DSP, "name": "anon"}]}
    )
    bidders = parse_bidders(data, "t")
    assert bidders.gvl_vendor_id == 1234
    assert [d.gvl_vendor_id for d in bidders.dsps] == [755, None]
    config = exchange_config(Settings(store="memory"), bidders.dsps, bidders.gvl_vendor_id)
    assert config.gvl_vendor_ids == {"acme-dsp": 755}
    assert config.own_gvl_vendor_id == 1234


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"dsps": [{**DSP, "gvl_vendor_id": 0}]}, "dsps[0].gvl_vendor_id"),
        ({"dsps": [{**DSP, "gvl_vendor_id": 65536}]}, "dsps[0].gvl_vendor_id"),
        ({"dsps": [{**DSP, "gvl_vendor_id": "755"}]}, "dsps[0].gvl_vendor_id"),
        ({"dsps": [{**DSP, "gvl_vendor_id": 75.5}]}, "dsps[0].gvl_vendor_id"),
        ({"gvl_vendor_id": -1}, "gvl_vendor_id"),
    ],
)
def test_a_bad_vendor_id_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match="^t: " + re.escape(field)):
        parse_bidders(orjson.dumps(data), "t")
