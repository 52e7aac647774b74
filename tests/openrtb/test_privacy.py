"""Personal data under COPPA, GDPR without consent, and US-privacy opt-out."""

from typing import Any

import orjson
import pytest

from openrtb.codec import decode_request, encode_request
from openrtb.privacy import apply_privacy, restricted, truncate_ip
from openrtb.request import BidRequest
from tests.builders import banner_request
from tests.tcf_strings import gpp_string, tc_string, usnat_section


def request(regs: dict[str, Any], **user: Any) -> BidRequest:
    raw = banner_request(regs=regs)
    raw["device"].update(ifa="ifa-123", ipv6="2001:db8:85a3:8d3:1319:8a2e:370:7348")
    raw["device"]["geo"].update(lat=40.7128, lon=-74.006)
    raw["user"].update(yob=1990, gender="F", **user)
    return BidRequest.model_validate(raw)


@pytest.mark.parametrize(
    "regs",
    [{"coppa": 1}, {"gdpr": 1}, {"us_privacy": "1YYN"}],
    ids=["coppa", "gdpr-no-consent", "us-opt-out"],
)
def test_restricted_requests_lose_identifiers_and_precision(regs: dict[str, Any]) -> None:
    original = request(regs)
    assert restricted(original)
    passed_on = apply_privacy(original)
    body = encode_request(passed_on)
    for secret in (
        b"u-55816b39711f9b5a",
        b"dsp-5456787654678",
        b"ifa-123",
        b"ex-id-7f3a",
        b"203.0.113.17",
        b"40.7128",
        b"1990",
    ):
        assert secret not in body
    assert passed_on.device is not None
    assert passed_on.device.ip == "203.0.113.0"
    assert passed_on.device.ipv6 == "2001:db8:85a3::"
    assert passed_on.device.ua == original.device.ua  # the ad must still render
    assert passed_on.device.geo is not None
    assert passed_on.device.geo.country == "USA"
    assert original.user is not None
    assert original.user.id == "u-55816b39711f9b5a"  # the input is not changed


def test_a_consent_string_counts_only_for_what_it_grants() -> None:
    # The GPP spec's example TC string: valid, but no purpose and no vendor consented.
    no_purposes = request({"gdpr": 1}, consent="CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA")
    assert b"u-55816b39711f9b5a" not in encode_request(apply_privacy(no_purposes, 755))
    granted = request(
        {"gdpr": 1}, consent=tc_string(purposes=[1, 2, 3, 4], vendors=[755], special_features=[1])
    )
    assert apply_privacy(granted, 755) is granted
    assert b"u-55816b39711f9b5a" not in encode_request(apply_privacy(granted, 756))
    plain = request({"coppa": 0, "gdpr": 0, "us_privacy": "1YNN"})
    assert apply_privacy(plain) is plain


@pytest.mark.parametrize(
    ("ip", "prefix", "expected"),
    [
        ("198.51.100.77", 24, "198.51.100.0"),
        ("2001:db8::1", 48, "2001:db8::"),
        ("not-an-ip", 24, None),
        ("", 24, ""),
    ],
)
def test_truncate_ip(ip: str, prefix: int, expected: str | None) -> None:
    assert truncate_ip(ip, prefix) == expected


@pytest.mark.parametrize(
    "regs_ext",
    [{"gdpr": 1}, {"us_privacy": "1YYN"}],
    ids=["gdpr-2.5", "us-opt-out-2.5"],
)
def test_signals_sent_the_2_5_way_restrict_too(regs_ext: dict[str, Any]) -> None:
    raw = banner_request(regs={"ext": regs_ext})
    passed_on = apply_privacy(decode_request(orjson.dumps(raw)))
    body = encode_request(passed_on)
    assert b"u-55816b39711f9b5a" not in body
    assert b"ex-id-7f3a" not in body
    assert b"203.0.113.17" not in body


GRANTING = tc_string(purposes=[1, 2, 3, 4], vendors=[755], special_features=[1])


@pytest.mark.parametrize(
    ("regs", "consent", "vendor_gets_ids"),
    [
        ({"gpp": gpp_string([(2, GRANTING)]), "gpp_sid": [2]}, None, True),
        ({"gpp": gpp_string([(2, tc_string())]), "gpp_sid": [2]}, None, False),
        ({"gpp": gpp_string([(2, tc_string())]), "gpp_sid": [2]}, GRANTING, False),
        ({"gpp": gpp_string([(7, usnat_section(sale=1))]), "gpp_sid": [7]}, None, False),
        ({"gpp": gpp_string([(7, usnat_section())]), "gpp_sid": [7]}, None, True),
        ({"gpp_sid": [2]}, GRANTING, True),
        ({"gpp_sid": [9]}, None, False),
    ],
    ids=[
        "eu-section-grants",
        "eu-section-refuses",
        "both-strings-the-stricter",
        "usnat-opt-out",
        "usnat-no-opt-out",
        "eu-applies-consent-in-user",
        "virginia-section-missing",
    ],
)
def test_gpp_sections_decide_with_the_other_signals(
    regs: dict[str, Any], consent: str | None, vendor_gets_ids: bool
) -> None:
    original = request(regs, **({"consent": consent} if consent else {}))
    body = encode_request(apply_privacy(original, 755))
    assert (b"u-55816b39711f9b5a" in body) is vendor_gets_ids
