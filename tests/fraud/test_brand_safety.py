"""Brand-safety lists and the taxonomy bridge, table-driven; the rules applied to bids."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from fraud.brand_safety import Blocks, BrandSafety
from fraud.taxonomy import Taxonomy
from openrtb.bid_rules import BidRules
from openrtb.enums import LossReason
from openrtb.request import BidRequest
from openrtb.response import Bid
from tests.builders import banner_request

TAXONOMY = Taxonomy.load()


@pytest.mark.parametrize(
    ("cats", "cattax", "includes", "excludes"),
    [
        (["IAB7-39"], 1, {"IAB7-39", "IAB7", "307"}, set()),  # 1.0 sexuality = 2.0 307
        (["307"], 2, {"IAB7-39", "IAB7", "307"}, {"IAB8"}),
        (["211"], 6, {"IAB8-5", "IAB8-18", "IAB8"}, set()),  # 2.2 keeps 2.0's ids
        (["123"], 2, {"IAB4", "IAB4-7"}, set()),  # "mapped to parent": both 1.0 codes
        (["IAB25-3"], 1, {"IAB25-3", "IAB25"}, set()),  # no 2.0 equivalent in the IAB map
        (["307"], 7, {"307"}, {"IAB7-39"}),  # Content 3.0: not bridged, compared as is
        (["9999"], 2, {"9999"}, {"IAB1"}),
    ],
)
def test_widen_bridges_content_1_and_2(
    cats: list[str], cattax: int, includes: set[str], excludes: set[str]
) -> None:
    names = TAXONOMY.widen(cats, cattax)
    assert includes <= names
    assert not excludes & names


def test_the_shipped_mapping_is_the_iab_table() -> None:
    assert len(TAXONOMY.to_v2) == 377  # 392 codes in 1.0, of which 15 have no 2.0 id
    assert TAXONOMY.to_v2["IAB9-30"] == "680"  # video games
    assert TAXONOMY.to_v1["680"] == frozenset({"IAB9-30"})


def test_a_malformed_mapping_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "map.tsv"
    path.write_text("# header\nIAB1\t1014\nIAB2 one\n")
    with pytest.raises(ValueError, match="line 3"):
        Taxonomy.load(path)


def _request(publisher: str = "pub-8953", **overrides: Any) -> BidRequest:
    body = banner_request(**overrides)
    body["site"]["publisher"]["id"] = publisher
    return BidRequest.model_validate(body)


def test_publisher_lists_add_to_the_exchange_lists(tmp_path: Path) -> None:
    path = tmp_path / "brand.json"
    path.write_bytes(
        orjson.dumps(
            {"badv": ["Gambling.example"], "publishers": {"pub-8953": {"bcat": ["IAB8-5"]}}}
        )
    )
    safety = BrandSafety.build(["casino.example"], ["IAB25"], path)
    assert safety.blocks(_request()) == Blocks(
        frozenset({"casino.example", "gambling.example"}), frozenset({"IAB25", "IAB8-5"})
    )
    assert safety.blocks(_request("pub-other")) == Blocks(
        frozenset({"casino.example", "gambling.example"}), frozenset({"IAB25"})
    )
    assert not safety.empty
    assert BrandSafety.build().empty


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('["IAB25"]', "expected an object"),
        ('{"bcat": "IAB25"}', "bcat: expected a list of strings"),
        ('{"publishers": {"p1": {"badv": [""]}}}', "publishers.p1.badv"),
        ('{"publishers": {"p1": []}}', "publishers.p1 must be an object"),
    ],
)
def test_a_bad_brand_safety_file_names_the_field(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "brand.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        BrandSafety.build(file=path)


def _bid(**fields: Any) -> Bid:
    return Bid.model_validate(
        {"id": "b", "impid": "1", "price": 2.0, "w": 300, "h": 250, "mtype": 1, **fields}
    )


@pytest.mark.parametrize(
    ("bid", "reason"),
    [
        ({"adomain": ["shoes.example"], "cat": ["IAB18-3"]}, None),
        ({"adomain": ["CASINO.example"]}, LossReason.CREATIVE_FILTERED_ADVERTISER_EXCLUSIONS),
        ({"adomain": ["blocked.example"]}, LossReason.CREATIVE_FILTERED_ADVERTISER_EXCLUSIONS),
        ({"cat": ["IAB25-3"]}, LossReason.CREATIVE_FILTERED_CATEGORY_EXCLUSIONS),
        ({"cattax": 2, "cat": ["307"]}, LossReason.CREATIVE_FILTERED_CATEGORY_EXCLUSIONS),
        ({"cat": ["IAB26"]}, LossReason.CREATIVE_FILTERED_CATEGORY_EXCLUSIONS),  # request's own
        ({"cattax": 2, "cat": ["211"]}, None),  # alcohol: not blocked here
    ],
)
def test_bid_rules_apply_the_exchange_blocks(
    bid: dict[str, Any], reason: LossReason | None
) -> None:
    safety = BrandSafety.build(["casino.example"], ["IAB25", "IAB7-39"])
    request = _request()
    blocks = safety.blocks(request)
    rules = BidRules.of(request, badv=blocks.badv, bcat=blocks.bcat, widen=safety.taxonomy.widen)
    assert rules.rejection(_bid(**bid)) == reason


def test_bid_rules_without_brand_safety_are_as_before() -> None:
    rules = BidRules.of(_request())
    assert rules.rejection(_bid(cat=["IAB25-3"])) is None  # exact match only, as always
    assert rules.rejection(_bid(cat=["IAB25"])) == LossReason.CREATIVE_FILTERED_CATEGORY_EXCLUSIONS
