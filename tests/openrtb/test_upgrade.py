"""OpenRTB 2.5 extensions read into their 2.6 fields at decode, conflicts included."""

from typing import Any

import orjson
import pytest

from openrtb.codec import decode_request, encode_request
from openrtb.request import BidRequest
from openrtb.upgrade import upgrade_request
from tests.builders import banner_request

EID_EXT = {"source": "ext.example", "uids": [{"id": "ext-uid-1", "atype": 1}]}
EID_26 = {"source": "id.example.org", "uids": [{"id": "ex-id-7f3a", "atype": 1}]}
CHAIN = {"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp25.example", "sid": "p", "hp": 1}]}

# (name, the request's 2.6 parts, its 2.5 ext parts, what the upgraded request holds)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("gdpr from ext", {"regs": {}}, {"regs": {"gdpr": 1}}, {"regs": {"gdpr": 1}}),
    ("gdpr 1 wins over 0", {"regs": {"gdpr": 0}}, {"regs": {"gdpr": 1}}, {"regs": {"gdpr": 1}}),
    ("gdpr 1 stays", {"regs": {"gdpr": 1}}, {"regs": {"gdpr": 0}}, {"regs": {"gdpr": 1}}),
    ("gdpr string read", {"regs": {}}, {"regs": {"gdpr": "1"}}, {"regs": {"gdpr": 1}}),
    ("gdpr string 0 read", {"regs": {}}, {"regs": {"gdpr": "0"}}, {"regs": {"gdpr": 0}}),
    ("gdpr other string dropped", {"regs": {}}, {"regs": {"gdpr": "yes"}}, {"regs": {}}),
    ("gdpr bool dropped", {"regs": {}}, {"regs": {"gdpr": True}}, {"regs": {}}),
    (
        "us_privacy from ext",
        {"regs": {}},
        {"regs": {"us_privacy": "1YYN"}},
        {"regs": {"us_privacy": "1YYN"}},
    ),
    (
        "us_privacy opt-out wins",
        {"regs": {"us_privacy": "1YNN"}},
        {"regs": {"us_privacy": "1YYN"}},
        {"regs": {"us_privacy": "1YYN"}},
    ),
    (
        "us_privacy 2.6 opt-out stays",
        {"regs": {"us_privacy": "1YYN"}},
        {"regs": {"us_privacy": "1YNN"}},
        {"regs": {"us_privacy": "1YYN"}},
    ),
    (
        "us_privacy neither opts out: 2.6",
        {"regs": {"us_privacy": "1NNN"}},
        {"regs": {"us_privacy": "1YNN"}},
        {"regs": {"us_privacy": "1NNN"}},
    ),
    (
        "gpp pair from ext",
        {"regs": {}},
        {"regs": {"gpp": "DBABMA~CPXxRfA", "gpp_sid": [2]}},
        {"regs": {"gpp": "DBABMA~CPXxRfA", "gpp_sid": [2]}},
    ),
    (
        "gpp pair from 2.6 when both",
        {"regs": {"gpp": "DBABzYA~1YYN", "gpp_sid": [6]}},
        {"regs": {"gpp": "DBABMA~CPXxRfA", "gpp_sid": [2]}},
        {"regs": {"gpp": "DBABzYA~1YYN", "gpp_sid": [6]}},
    ),
    (
        "gpp_sid of strings dropped",
        {"regs": {}},
        {"regs": {"gpp": "DBABMA~CPXxRfA", "gpp_sid": ["2"]}},
        {"regs": {"gpp": "DBABMA~CPXxRfA"}},
    ),
    (
        "consent from ext",
        {"user": {}},
        {"user": {"consent": "CO-ext"}},
        {"user": {"consent": "CO-ext"}},
    ),
    (
        "consent: 2.6 wins",
        {"user": {"consent": "CO-26"}},
        {"user": {"consent": "CO-ext"}},
        {"user": {"consent": "CO-26"}},
    ),
    ("eids from ext", {"user": {}}, {"user": {"eids": [EID_EXT]}}, {"user": {"eids": [EID_EXT]}}),
    (
        "eids merged by source",
        {"user": {"eids": [EID_26]}},
        {"user": {"eids": [EID_EXT, {**EID_26, "uids": [{"id": "other"}]}]}},
        {"user": {"eids": [EID_26, EID_EXT]}},
    ),
    (
        "malformed eid dropped",
        {"user": {}},
        {"user": {"eids": [{"source": 7}, EID_EXT]}},
        {"user": {"eids": [EID_EXT]}},
    ),
    (
        "schain from ext",
        {"source": {}},
        {"source": {"schain": CHAIN}},
        {"source": {"schain": CHAIN}},
    ),
    (
        "malformed schain dropped",
        {"source": {}},
        {"source": {"schain": {"nodes": 1}}},
        {"source": {}},
    ),
    (
        "rewarded from prebid",
        {"imp": {}},
        {"imp": {"prebid": {"is_rewarded_inventory": 1}}},
        {"imp": {"rwdd": 1}},
    ),
    (
        "rwdd: 2.6 wins",
        {"imp": {"rwdd": 0}},
        {"imp": {"prebid": {"is_rewarded_inventory": 1, "bidder": {"x": {}}}}},
        {"imp": {"rwdd": 0, "ext": {"prebid": {"bidder": {"x": {}}}}}},
    ),
]


def _raw(parts: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    raw = banner_request()
    raw["regs"], raw["user"], raw["source"] = {}, {}, {}
    for name in ("regs", "user", "source"):
        raw[name] = {**parts.get(name, {}), **({"ext": ext[name]} if name in ext else {})}
    imp = raw["imp"][0]
    imp.update(parts.get("imp", {}))
    if "imp" in ext:
        imp["ext"] = ext["imp"]
    return raw


@pytest.mark.parametrize(
    ("parts", "ext", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_2_5_locations_are_read_into_2_6_fields(
    parts: dict[str, Any], ext: dict[str, Any], expected: dict[str, Any]
) -> None:
    upgraded = decode_request(orjson.dumps(_raw(parts, ext)))
    wire = orjson.loads(encode_request(upgraded))
    for name in ("regs", "user", "source"):
        assert wire.get(name, {}) == expected.get(name, {}), name
    imp = wire["imp"][0]
    want_imp = expected.get("imp", {})
    assert {k: imp.get(k) for k in ("rwdd", "ext")} == {
        "rwdd": want_imp.get("rwdd"),
        "ext": want_imp.get("ext"),
    }


def test_moved_keys_leave_ext_and_other_keys_stay() -> None:
    raw = banner_request()
    raw["regs"] = {"ext": {"gdpr": 1, "dsa": {"required": 1}}}
    raw["user"] = {"ext": {"consent": "CO", "eids": [EID_EXT], "data": 1}}
    upgraded = upgrade_request(BidRequest.model_validate(raw))
    assert upgraded.regs is not None
    assert upgraded.user is not None
    assert upgraded.regs.ext == {"dsa": {"required": 1}}
    assert upgraded.user.ext == {"data": 1}


def test_a_2_6_request_is_returned_as_it_is() -> None:
    request = BidRequest.model_validate(banner_request())
    assert upgrade_request(request) is request


def test_upgrading_twice_changes_nothing_more() -> None:
    raw = _raw({}, {"regs": {"gdpr": 1, "us_privacy": "1YYN"}, "user": {"eids": [EID_EXT]}})
    once = upgrade_request(BidRequest.model_validate(raw))
    assert upgrade_request(once) is once
