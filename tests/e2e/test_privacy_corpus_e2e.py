"""A corpus of real-world-shaped bid requests (OpenRTB 2.5 and 2.6 forms; real, junk and
spec-example TCF and GPP strings) through the exchange over a real socket, and what each
scripted DSP peer receives over real HTTP/2.

Three peers: ``consented`` (GVL vendor 755: every purpose and precise geolocation when the
TC string grants them), ``no-profile`` (vendor 756: consented, but the publisher forbids
it purpose 3, so ids without user data) and ``anonymous`` (no vendor id in the bidders file).
"""

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from structlog.testing import capture_logs

from tests.builders import banner_request
from tests.e2e.test_external_dsps_e2e import JSON_HEADERS, exchange_with
from tests.peers import Peer, PeerServer
from tests.tcf_strings import (
    IAB_EXAMPLE,
    gpp_string,
    tc_string,
    us_state_section,
    usnat_section,
)

CONSENTED, NO_PROFILE = 755, 756
CONSENT = tc_string(
    purposes=[1, 2, 3, 4],
    vendors=[CONSENTED, NO_PROFILE],
    special_features=[1],
    not_allowed=[(3, NO_PROFILE)],
)
CONSENT_NO_GEO = tc_string(
    purposes=[1, 2, 3, 4], vendors=[CONSENTED, NO_PROFILE], not_allowed=[(3, NO_PROFILE)]
)
NOTHING_GRANTED = tc_string()  # a valid string in which the user refused everything
SPEC_GPP_TCF_USP = "DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN"
IP, IFA, IFV = "203.0.113.17", "ifa-5c1e", "ifv-77e2"


@dataclass(frozen=True)
class Gets:
    """What a peer may have received of the user's personal data."""

    ids: bool
    """``user.id``, ``buyeruid``, ``device.ifa``."""
    user_data: bool
    """``eids``, ``data``, ``yob``, ``user.ext``."""
    precise: bool
    """The full IP, coordinates, all of ``device.ext``."""


Edit = Callable[[dict[str, Any]], None]


def regs(**fields: Any) -> Edit:
    def edit(body: dict[str, Any]) -> None:
        body["regs"] = fields

    return edit


def consent(value: str, *, where: str = "2.6", **regs_fields: Any) -> Edit:
    def edit(body: dict[str, Any]) -> None:
        body["regs"] = regs_fields
        if where == "2.6":
            body["user"]["consent"] = value
        else:
            body["user"].setdefault("ext", {})["consent"] = value

    return edit


def both(*edits: Edit) -> Edit:
    def edit(body: dict[str, Any]) -> None:
        for one in edits:
            one(body)

    return edit


def eids_the_2_5_way(body: dict[str, Any]) -> None:
    body["user"].setdefault("ext", {})["eids"] = body["user"].pop("eids")


ALL = Gets(ids=True, user_data=True, precise=True)
IDS = Gets(ids=True, user_data=False, precise=True)
NOTHING = Gets(ids=False, user_data=False, precise=False)
NO_GEO = Gets(ids=True, user_data=True, precise=False)
IDS_NO_GEO = Gets(ids=True, user_data=False, precise=False)
GDPR_25 = {"ext": {"gdpr": 1}}

# (name, how the request differs from the base, what consented / no-profile / anonymous get)
CORPUS: list[tuple[str, Edit, tuple[Gets, Gets, Gets]]] = [
    ("2.6, no regulation", regs(gdpr=0, us_privacy="1YNN"), (ALL, ALL, ALL)),
    ("2.6, gdpr without a string", regs(gdpr=1), (NOTHING, NOTHING, NOTHING)),
    ("2.5, gdpr without a string", regs(**GDPR_25), (NOTHING, NOTHING, NOTHING)),
    ("2.6, gdpr + consent", consent(CONSENT, gdpr=1), (ALL, IDS, NOTHING)),
    (
        "gdpr + consent, no geolocation opt-in",
        consent(CONSENT_NO_GEO, gdpr=1),
        (NO_GEO, IDS_NO_GEO, NOTHING),
    ),
    ("2.5, gdpr + consent", consent(CONSENT, where="2.5", **GDPR_25), (ALL, IDS, NOTHING)),
    (
        "2.5, gdpr + consent + eids in ext",
        both(consent(CONSENT, where="2.5", **GDPR_25), eids_the_2_5_way),
        (ALL, IDS, NOTHING),
    ),
    ("2.5, gdpr as the string '1'", regs(ext={"gdpr": "1"}), (NOTHING, NOTHING, NOTHING)),
    ("2.5 gdpr=1 against 2.6 gdpr=0", regs(gdpr=0, ext={"gdpr": 1}), (NOTHING, NOTHING, NOTHING)),
    ("gdpr + truncated junk 'CO-x'", consent("CO-x", gdpr=1), (NOTHING, NOTHING, NOTHING)),
    (
        "gdpr + a consent string cut short",
        consent(tc_string(purposes=[1, 2, 3, 4], vendors=[1, CONSENTED, NO_PROFILE])[:44], gdpr=1),
        (NOTHING, NOTHING, NOTHING),
    ),
    ("gdpr + empty string", consent("", where="2.5", **GDPR_25), (NOTHING, NOTHING, NOTHING)),
    ("gdpr + not base64", consent("%%%%", gdpr=1), (NOTHING, NOTHING, NOTHING)),
    ("gdpr + a refusal", consent(NOTHING_GRANTED, gdpr=1), (NOTHING, NOTHING, NOTHING)),
    ("gdpr + IAB example (no vendors)", consent(IAB_EXAMPLE, gdpr=1), (NOTHING, NOTHING, NOTHING)),
    ("gdpr=0 + any string", consent("CO-x", gdpr=0), (ALL, ALL, ALL)),
    ("2.5, us_privacy opt-out", regs(ext={"us_privacy": "1YYN"}), (NOTHING, NOTHING, NOTHING)),
    ("2.6, us_privacy opt-out", regs(us_privacy="1YYN"), (NOTHING, NOTHING, NOTHING)),
    ("coppa", regs(coppa=1), (NOTHING, NOTHING, NOTHING)),
    (
        "coppa + consent",
        consent(CONSENT, gdpr=1, coppa=1),
        (NOTHING, NOTHING, NOTHING),
    ),
    (
        "GPP EU section with consent",
        regs(gpp=gpp_string([(2, CONSENT)]), gpp_sid=[2]),
        (ALL, IDS, NOTHING),
    ),
    (
        "2.5 GPP EU section with consent",
        regs(ext={"gpp": gpp_string([(2, CONSENT)]), "gpp_sid": [2]}),
        (ALL, IDS, NOTHING),
    ),
    (
        "GPP spec example: EU section grants nothing",
        regs(gpp=SPEC_GPP_TCF_USP, gpp_sid=[2, 6]),
        (NOTHING, NOTHING, NOTHING),
    ),
    (
        "GPP spec example: only USP applies",
        regs(gpp=SPEC_GPP_TCF_USP, gpp_sid=[6]),
        (ALL, ALL, ALL),
    ),
    (
        "user.consent and GPP EU section: what both allow",
        consent(CONSENT, gpp=gpp_string([(2, NOTHING_GRANTED)]), gpp_sid=[2]),
        (NOTHING, NOTHING, NOTHING),
    ),
    (
        "GPP US National: sale opt-out",
        regs(gpp=gpp_string([(7, usnat_section(sale=1))]), gpp_sid=[7]),
        (NOTHING, NOTHING, NOTHING),
    ),
    (
        "GPP US National: targeted-ads opt-out",
        regs(gpp=gpp_string([(7, usnat_section(targeted=1))]), gpp_sid=[7]),
        (NOTHING, NOTHING, NOTHING),
    ),
    (
        "GPP US National: no opt-out",
        regs(gpp=gpp_string([(7, usnat_section())]), gpp_sid=[7]),
        (ALL, ALL, ALL),
    ),
    (
        "GPP California: sharing opt-out",
        regs(gpp=gpp_string([(8, us_state_section(3, [2, 1]))]), gpp_sid=[8]),
        (NOTHING, NOTHING, NOTHING),
    ),
    (
        "2.5 GPP California: no opt-out",
        regs(ext={"gpp": gpp_string([(8, us_state_section(3, [2, 2]))]), "gpp_sid": [8]}),
        (ALL, ALL, ALL),
    ),
    (
        "GPP Florida section (not read): conservative",
        regs(gpp=gpp_string([(13, us_state_section(3, [2, 2]))]), gpp_sid=[13]),
        (NOTHING, NOTHING, NOTHING),
    ),
    ("GPP junk", regs(gpp="not~a~gpp", gpp_sid=[7]), (NOTHING, NOTHING, NOTHING)),
]


def base_request() -> dict[str, Any]:
    body = banner_request()
    body["device"].update(ifa=IFA, ext={"atts": 3, "ifv": IFV})
    body["device"]["geo"].update(lat=52.52, lon=13.405)
    body["user"].update(yob=1990, data=[{"id": "dp", "segment": [{"id": "s1"}]}])
    body["user"]["ext"] = {"fpd": {"interest": "running"}}
    return body


def check(name: str, body: dict[str, Any], gets: Gets) -> None:
    """What ``body`` (as one peer received it) may hold under ``gets``."""
    device, user = body["device"], body.get("user", {})
    ids = (user.get("id"), user.get("buyeruid"), device.get("ifa"))
    profile = (user.get("eids"), user.get("data"), user.get("yob"), user.get("ext"))
    precise = (device.get("ip"), device["geo"].get("lat"), device.get("ext"))
    if gets.ids:
        assert None not in ids, name
    else:
        assert ids == (None, None, None), name
    if gets.user_data:
        assert None not in profile, name
    else:
        assert profile == (None, None, None, None), name
    if gets.precise:
        assert precise == (IP, 52.52, {"atts": 3, "ifv": IFV}), name
    else:
        assert precise == ("203.0.113.0", None, {"atts": 3}), name
    assert device["ua"], name  # the ad must still render
    assert device["geo"]["country"] == "USA", name


@pytest.fixture(scope="module")
def corpus_exchange(tmp_path_factory: pytest.TempPathFactory) -> Any:
    os.environ["RTB_AUCTION_LOG_SAMPLE_RATE"] = "1"  # every auction writes its log line
    peers = [Peer("consented"), Peer("no-profile", tls=True), Peer("anonymous")]
    vendors = {
        "consented": {"gvl_vendor_id": CONSENTED},
        "no-profile": {"gvl_vendor_id": NO_PROFILE},
    }
    with exchange_with(tmp_path_factory.mktemp("corpus"), peers, **vendors) as (server, client):
        del os.environ["RTB_AUCTION_LOG_SAMPLE_RATE"]
        yield peers, server, client


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_what_each_dsp_receives(
    corpus_exchange: tuple[list[Peer], PeerServer, Any], edit: Edit, expected: tuple[Gets, ...]
) -> None:
    peers, _, client = corpus_exchange
    body = base_request()
    edit(body)
    before = [len(peer.seen) for peer in peers]
    response = client.post("/openrtb2/auction", content=orjson.dumps(body), headers=JSON_HEADERS)
    assert response.status_code == 200, response.text
    for peer, count, gets in zip(peers, before, expected, strict=True):
        assert len(peer.seen) == count + 1, peer.name
        seen = peer.seen[-1]
        assert seen.headers["x-openrtb-version"] == "2.6"
        check(peer.name, seen.body, gets)
        # One version on the wire: nothing left in the 2.5 places.
        regs_ext = seen.body.get("regs", {}).get("ext") or {}
        user_ext = seen.body.get("user", {}).get("ext") or {}
        assert not {"gdpr", "us_privacy", "gpp", "gpp_sid"} & regs_ext.keys()
        assert not {"consent", "eids"} & user_ext.keys()


def test_the_corpus_covers_both_forms_and_every_outcome() -> None:
    outcomes = {gets for _, _, expected in CORPUS for gets in expected}
    assert outcomes == {ALL, IDS, NOTHING, NO_GEO, IDS_NO_GEO}
    assert sum("2.5" in name for name, _, _ in CORPUS) >= 5


def test_corpus_peers_answer_over_http2(
    corpus_exchange: tuple[list[Peer], PeerServer, Any],
) -> None:
    peers, _, client = corpus_exchange
    client.post("/openrtb2/auction", content=orjson.dumps(base_request()), headers=JSON_HEADERS)
    assert {peer.seen[-1].http_version for peer in peers} == {"2"}


def _token_payloads(answer: dict[str, Any]) -> list[bytes]:
    payloads = []
    for bid in (b for seat in answer.get("seatbid", ()) for b in seat["bid"]):
        for url in (bid.get("nurl"), bid.get("burl")):
            token = parse_qs(urlsplit(url).query)["t"][0].partition(".")[0]
            payloads.append(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return payloads


def test_logs_and_tokens_carry_no_personal_data(
    corpus_exchange: tuple[list[Peer], PeerServer, Any],
) -> None:
    _, _, client = corpus_exchange
    secrets = ("u-55816b39711f9b5a", "dsp-545678765467876567", IFA, IFV, IP, "ex-id-7f3a", "52.52")
    written: list[bytes] = []
    with capture_logs() as logs:
        for _, edit, _ in CORPUS:
            body = base_request()
            edit(body)
            answer = client.post(
                "/openrtb2/auction", content=orjson.dumps(body), headers=JSON_HEADERS
            )
            assert answer.status_code == 200
            written.extend(_token_payloads(answer.json()))
    assert any(entry["event"] == "auction" for entry in logs)  # the line was written
    assert len(written) >= 2 * len(CORPUS)
    text = repr(logs).encode() + b"".join(written)
    for secret in secrets:
        assert secret.encode() not in text, secret
    for _, edit, _ in CORPUS:  # nor any consent or GPP string of the corpus
        body = base_request()
        edit(body)
        for value in (body["user"].get("consent"), body["regs"].get("gpp")):
            if value and len(value) > 8:
                assert value.encode() not in text
