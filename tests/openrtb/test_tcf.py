"""TCF v2.2 strings decoded by iab-tcf: what each lets one vendor do, and junk refused."""

import pytest

from openrtb.privacy import FULL, NOTHING, Grant, Signals
from openrtb.tcf import MAX_TC_STRING, decode_tc_string
from tests.tcf_strings import IAB_EXAMPLE, tc_string

V = 755  # the bidder's vendor id
ALL_4 = [1, 2, 3, 4]
IDS_ONLY = Grant(ids=True, user_data=False, precise_geo=False)

# (name, the TC string, what vendor V may receive)
CASES: list[tuple[str, str, Grant]] = [
    (
        "purposes 1-4, vendor, geo",
        tc_string(purposes=ALL_4, vendors=[V], special_features=[1]),
        FULL,
    ),
    (
        "purposes 1-4, no geo opt-in",
        tc_string(purposes=ALL_4, vendors=[V]),
        Grant(ids=True, user_data=True, precise_geo=False),
    ),
    ("vendor not consented", tc_string(purposes=ALL_4, vendors=[V + 1]), NOTHING),
    ("no purpose 1", tc_string(purposes=[2, 3, 4], vendors=[V]), NOTHING),
    ("no purpose 2", tc_string(purposes=[1, 3, 4], vendors=[V]), NOTHING),
    ("purposes 1-2 only", tc_string(purposes=[1, 2], vendors=[V]), IDS_ONLY),
    (
        "purpose 2 by legitimate interest",
        tc_string(purposes=[1], vendors=[V], li_purposes=[2], li_vendors=[V]),
        IDS_ONLY,
    ),
    (
        "LI purpose without the vendor's LI",
        tc_string(purposes=[1], vendors=[V], li_purposes=[2]),
        NOTHING,
    ),
    (
        "3 and 4 by LI do not count in v2.2",
        tc_string(purposes=[1, 2], vendors=[V], li_purposes=[3, 4], li_vendors=[V]),
        IDS_ONLY,
    ),
    (
        "publisher forbids purpose 3 for the vendor",
        tc_string(purposes=ALL_4, vendors=[V], not_allowed=[(3, V)]),
        IDS_ONLY,
    ),
    (
        "publisher forbids purpose 1 for another vendor",
        tc_string(purposes=ALL_4, vendors=[V], not_allowed=[(1, V + 1)]),
        Grant(ids=True, user_data=True, precise_geo=False),
    ),
    ("IAB example: purposes 1-3, no vendors", IAB_EXAMPLE, NOTHING),
    ("TCF v1 string", "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", NOTHING),
    ("truncated (read past its end)", "CO-x", NOTHING),
    ("a valid string cut short", tc_string(purposes=ALL_4, vendors=[V])[:30], NOTHING),
    # Cut inside the vendor bitfield: the library reads the missing bits as consent.
    ("cut inside the vendor bitfield", tc_string(purposes=ALL_4, vendors=[1, V])[:44], NOTHING),
    ("not base64", "@@@not-a-consent@@@", NOTHING),
    ("empty", "", NOTHING),
    ("too long", "C" * (MAX_TC_STRING + 1), NOTHING),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_a_tc_string_lets_a_vendor_receive(text: str, expected: Grant) -> None:
    signals = Signals(blanket=False, gdpr=True, consents=(decode_tc_string(text),))
    assert signals.grant(V) == expected


def test_the_iab_example_decodes_to_its_documented_purposes() -> None:
    consent = decode_tc_string(IAB_EXAMPLE)
    assert consent is not None
    assert consent._decoded.is_purpose_allowed(3)
    assert not consent._decoded.is_purpose_allowed(4)


def test_strings_built_here_round_trip_through_the_library() -> None:
    consent = decode_tc_string(tc_string(purposes=[1, 2], vendors=[3, 900], li_vendors=[5]))
    assert consent is not None
    decoded = consent._decoded
    assert [p for p in range(1, 25) if decoded.is_purpose_allowed(p)] == [1, 2]
    assert [v for v in range(1, 1000) if decoded.is_vendor_allowed(v)] == [3, 900]
    assert [v for v in range(1, 10) if decoded.is_interest_allowed(v)] == [5]


def test_no_vendor_id_or_no_string_under_gdpr_means_nothing() -> None:
    granted = decode_tc_string(tc_string(purposes=ALL_4, vendors=[V]))
    assert Signals(False, True, (granted,)).grant(None) == NOTHING
    assert Signals(False, True, ()).grant(V) == NOTHING
    assert Signals(False, False, ()).grant(None) == FULL
    assert Signals(True, False, ()).grant(V) == NOTHING


def test_two_strings_grant_what_both_allow() -> None:
    full = decode_tc_string(tc_string(purposes=ALL_4, vendors=[V], special_features=[1]))
    ids = decode_tc_string(tc_string(purposes=[1, 2], vendors=[V]))
    assert Signals(False, True, (full, ids)).grant(V) == IDS_ONLY
    assert Signals(False, True, (full, None)).grant(V) == NOTHING
