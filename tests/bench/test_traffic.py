"""bench.traffic: the load test's request mix is valid OpenRTB by the exchange's own rules,
the same for a seed, and covers every kind in both protocol versions."""

import random
from collections import Counter

import orjson
import pytest

from bench.traffic import KINDS, TrafficMix, TrafficRequest, build, configured_deal_ids
from fraud.device import NOT_PUBLIC
from fraud.ip_ranges import IpRanges
from openrtb.codec import decode_request
from openrtb.validate import validate_request

DEMO_DEALS = ("acme-shoes-pmp-1", "bluebird-travel-pmp-1")


@pytest.fixture(scope="module")
def sample() -> list[TrafficRequest]:
    return TrafficMix(11, deal_ids=DEMO_DEALS).take(1500)


def test_every_request_passes_the_exchanges_validation(sample: list[TrafficRequest]) -> None:
    for request in sample:
        decoded = decode_request(request.encoded())
        validate_request(decoded)  # raises InvalidRequest naming the field
        assert decoded.id == request.body["id"]


def test_the_mix_covers_every_kind_in_both_versions_but_dooh(
    sample: list[TrafficRequest],
) -> None:
    seen = Counter((r.kind, r.version) for r in sample)
    expected = {(k, v) for k in KINDS for v in ("2.5", "2.6")} - {("dooh", "2.5")}
    assert set(seen) == expected
    assert len({r.body["id"] for r in sample}) == len(sample)  # unique request ids


def test_a_seed_names_one_sequence() -> None:
    first = [r.encoded() for r in TrafficMix(3).take(200)]
    assert [r.encoded() for r in TrafficMix(3).take(200)] == first
    assert [r.encoded() for r in TrafficMix(4).take(200)] != first


def test_the_25_forms_read_as_the_26_fields(sample: list[TrafficRequest]) -> None:
    for request in (r for r in sample if r.version == "2.5"):
        body = request.body
        assert "gdpr" not in body["regs"]
        assert "gdpr" in body["regs"]["ext"]
        assert "schain" not in body["source"]
        assert "schain" in body["source"]["ext"]
        assert "consent" not in body["user"]
        assert "eids" not in body["user"]
        decoded = decode_request(request.encoded())  # openrtb.upgrade moves them
        assert decoded.regs is not None
        assert decoded.regs.gdpr == body["regs"]["ext"]["gdpr"]
        assert decoded.source is not None
        assert decoded.source.schain is not None
        assert decoded.user is not None
        assert decoded.user.eids
        if decoded.regs.gdpr == 1:
            assert decoded.user.consent == body["user"]["ext"]["consent"]
        if request.kind == "app-video":
            assert "rwdd" not in body["imp"][0]
            assert decoded.imp[0].rwdd == 1
            assert body["imp"][0]["video"]["placement"] == 5
            assert decoded.imp[0].video is not None
            assert decoded.imp[0].video.plcmt is None
    for request in (r for r in sample if r.version == "2.6"):
        body = request.body
        assert "ext" not in body["regs"]
        assert "ext" not in body["source"]
        assert "ext" not in body.get("user", {})
        if request.kind == "app-video":
            assert body["imp"][0]["rwdd"] == 1
            assert body["imp"][0]["video"]["plcmt"] == 3


def test_eu_users_carry_gdpr_and_consent(sample: list[TrafficRequest]) -> None:
    for request in sample:
        decoded = decode_request(request.encoded())
        assert decoded.device is not None
        assert decoded.device.geo is not None
        assert decoded.regs is not None
        country = decoded.device.geo.country
        if request.kind != "dooh" and country in ("GBR", "DEU", "SWE"):
            assert decoded.regs.gdpr == 1
            assert decoded.user is not None
            assert decoded.user.consent
        else:
            assert decoded.regs.gdpr == 0


def test_floors_come_in_usd_eur_and_gbp(sample: list[TrafficRequest]) -> None:
    floors = Counter(imp["bidfloorcur"] for r in sample for imp in r.body["imp"])
    assert set(floors) == {"USD", "EUR", "GBP"}
    assert floors["USD"] > floors["EUR"] + floors["GBP"]  # USD stays the default
    accepted = {tuple(r.body["cur"]) for r in sample}
    assert ("EUR", "USD") in accepted
    assert ("GBP",) in accepted


def test_pmp_requests_offer_the_deals_the_demo_campaigns_buy(
    sample: list[TrafficRequest],
) -> None:
    assert configured_deal_ids() == DEMO_DEALS
    offered = Counter(
        deal["id"]
        for r in sample
        if r.kind == "site-pmp"
        for deal in r.body["imp"][0]["pmp"]["deals"]
    )
    assert set(offered) == set(DEMO_DEALS)
    private = {r.body["imp"][0]["pmp"]["private_auction"] for r in sample if r.kind == "site-pmp"}
    assert private == {0, 1}


def test_without_configured_deals_pmp_requests_offer_one_nobody_buys() -> None:
    body = build("site-pmp", "2.6", random.Random(1))
    (deal,) = body["imp"][0]["pmp"]["deals"]
    assert deal["id"].startswith("deal-")
    assert deal["id"] not in DEMO_DEALS


def test_pages_have_several_slots_and_dooh_is_the_specs_screen(
    sample: list[TrafficRequest],
) -> None:
    pages = [r for r in sample if r.kind == "multi-imp"]
    assert {len(r.body["imp"]) for r in pages} == {2, 3, 4}
    dooh = next(r for r in sample if r.kind == "dooh")
    decoded = decode_request(dooh.encoded())
    assert decoded.dooh is not None
    assert decoded.site is None
    assert decoded.app is None
    imp = decoded.imp[0]
    assert imp.bidfloorcur == "GBP"
    assert imp.qty is not None
    assert imp.qty.multiplier
    assert imp.banner is not None
    assert (imp.banner.w, imp.banner.h) == (1080, 1920)
    assert decoded.device is not None
    assert decoded.device.devicetype == 8


def test_native_requests_carry_a_native_12_request_string(
    sample: list[TrafficRequest],
) -> None:
    native = next(r for r in sample if r.kind == "native")
    inner = orjson.loads(native.body["imp"][0]["native"]["request"])
    assert inner["ver"] == "1.2"
    assert [a["id"] for a in inner["assets"]] == [1, 2, 3]


def test_weights_choose_the_kinds_and_bad_ones_are_refused() -> None:
    only = TrafficMix(1, weights={"native": 1, "dooh": 0}).take(50)
    assert {r.kind for r in only} == {"native"}
    with pytest.raises(ValueError, match="weights"):
        TrafficMix(1, weights={"dooh": 0})
    with pytest.raises(ValueError, match="weights"):
        TrafficMix(1, weights={"popunder": 1})  # type: ignore[dict-item]


def test_devices_are_at_public_addresses_in_no_data_centre(sample: list[TrafficRequest]) -> None:
    """The screen blocks data-centre traffic by default: a mix from there would time 204s."""
    data_centres = IpRanges.load()
    addresses = {r.body["device"]["ip"] for r in sample}
    assert len(addresses) > 3
    for address in addresses:
        assert NOT_PUBLIC.provider_of(address) is None, address
        assert data_centres.provider_of(address) is None, address
