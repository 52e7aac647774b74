"""Per-bidder privacy views: each bidder gets what its GVL vendor may receive, each distinct
view is built once, and the in-process routers (the exchange) get the exchange's own."""

from collections.abc import Sequence
from typing import Any

from bidding.campaigns import Campaign
from openrtb.codec import encode_request
from tests.exchange.test_exchange import Scripted, exchange, request, run
from tests.tcf_strings import tc_string

USER_ID = b"u-55816b39711f9b5a"
EID = b"ex-id-7f3a"
IP = b"203.0.113.17"
CONSENTED, IDS_ONLY, UNKNOWN = 755, 756, 757


class InProcess(Scripted):
    """Looks like an in-process router to the exchange (it hosts campaigns)."""

    @property
    def campaigns(self) -> Sequence[Campaign]:
        return ()


def gdpr_request(**user: Any) -> Any:
    consent = tc_string(
        purposes=[1, 2, 3, 4], vendors=[CONSENTED], special_features=[1], li_vendors=[]
    )
    ids_only = tc_string(purposes=[1, 2], vendors=[IDS_ONLY])
    raw_user = {
        "id": "u-55816b39711f9b5a",
        "eids": [{"source": "id.example.org", "uids": [{"id": "ex-id-7f3a"}]}],
        **user,
    }
    return request(regs={"gdpr": 1}, user={**raw_user, "consent": consent}), ids_only


async def test_each_bidder_gets_what_its_vendor_may_receive() -> None:
    bidders = [Scripted(name) for name in ("consented", "also", "ids", "unknown", "none")]
    house = InProcess("house")
    ex = exchange(
        *bidders,
        house,
        gvl_vendor_ids={"consented": CONSENTED, "also": CONSENTED, "unknown": UNKNOWN},
        own_gvl_vendor_id=CONSENTED,
    )
    req, _ = gdpr_request()
    result = await run(ex, req)
    bodies = {b.name: encode_request(b.seen[0]) for b in [*bidders, house]}
    for name in ("consented", "also", "house"):
        assert USER_ID in bodies[name]
        assert EID in bodies[name]
        assert IP in bodies[name]
    for name in ("ids", "unknown", "none"):  # "ids" has no vendor id in the config
        for secret in (USER_ID, EID, IP):
            assert secret not in bodies[name], name
    # One view per distinct grant: the consented bidders share theirs, the others theirs.
    consented, also, _, unknown, none = (b.seen[0] for b in bidders)
    assert consented is also
    assert consented is house.seen[0]
    assert unknown is none
    assert result.seen is not None
    assert result.seen.user is not None
    assert result.seen.user.id == "u-55816b39711f9b5a"  # the exchange's own view


async def test_purposes_1_and_2_give_ids_without_user_data() -> None:
    req, ids_only = gdpr_request()
    assert req.user is not None
    req = req.model_copy(update={"user": req.user.model_copy(update={"consent": ids_only})})
    bidder = Scripted("ids")
    await run(exchange(bidder, gvl_vendor_ids={"ids": IDS_ONLY}), req)
    body = encode_request(bidder.seen[0])
    assert USER_ID in body
    assert EID not in body
    assert IP not in body  # no special feature 1: no precise location


async def test_in_process_routers_without_an_exchange_vendor_id_get_nothing() -> None:
    house = InProcess("house")
    req, _ = gdpr_request(yob=1990, gender="F")
    result = await run(exchange(house, gvl_vendor_ids={"house": CONSENTED}), req)
    body = encode_request(house.seen[0])
    for secret in (USER_ID, EID, IP, b"1990"):
        assert secret not in body
    assert result.seen is not None
    assert result.seen.user is not None
    assert (result.seen.user.id, result.seen.user.yob) == (None, None)


async def test_no_gdpr_sends_one_unrestricted_view() -> None:
    a, b = Scripted("a"), Scripted("b")
    await run(exchange(a, b, gvl_vendor_ids={"a": 1}), request())
    assert a.seen[0] is b.seen[0]
    assert USER_ID in encode_request(a.seen[0])
