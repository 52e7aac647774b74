"""GPP strings: the header's section ids and what the applicable sections say."""

import pytest

from openrtb.gpp import GppSignals, gpp_signals
from tests.tcf_strings import gpp_string, tc_string, us_state_section, usnat_section

# The GPP specification's own examples (TCF EU + USP v1; US National).
SPEC_TCF_USP = "DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN"
SPEC_USNAT = "DBABLA~BVQqAAAAAgA.QA"
TC = tc_string(purposes=[1, 2], vendors=[755])

# (name, gpp, gpp_sid, opt_out, eu, the EU section's TC string)
CASES: list[tuple[str, str | None, list[int] | None, bool, bool, str | None]] = [
    (
        "spec: TCF EU + USP, both apply",
        SPEC_TCF_USP,
        [2, 6],
        False,
        True,
        SPEC_TCF_USP.split("~")[1],
    ),
    ("spec: only USP applies", SPEC_TCF_USP, [6], False, False, None),
    (
        "sid missing: every section applies",
        SPEC_TCF_USP,
        None,
        False,
        True,
        SPEC_TCF_USP.split("~")[1],
    ),
    ("spec: US National, no opt-out", SPEC_USNAT, [7], False, False, None),
    ("USP opted out", gpp_string([(6, "1YYN")]), [6], True, False, None),
    ("US National: sale opt-out", gpp_string([(7, usnat_section(sale=1))]), [7], True, False, None),
    (
        "US National: sharing opt-out",
        gpp_string([(7, usnat_section(sharing=1))]),
        [7],
        True,
        False,
        None,
    ),
    (
        "US National: targeted opt-out",
        gpp_string([(7, usnat_section(targeted=1))]),
        [7],
        True,
        False,
        None,
    ),
    ("US National: none", gpp_string([(7, usnat_section())]), [7], False, False, None),
    (
        "US National: n/a",
        gpp_string([(7, usnat_section(sale=0, sharing=0, targeted=0))]),
        [7],
        False,
        False,
        None,
    ),
    ("US National: junk", gpp_string([(7, "!!")]), [7], True, False, None),
    (
        "California: sale opt-out",
        gpp_string([(8, us_state_section(3, [1, 2]))]),
        [8],
        True,
        False,
        None,
    ),
    (
        "California: sharing opt-out",
        gpp_string([(8, us_state_section(3, [2, 1]))]),
        [8],
        True,
        False,
        None,
    ),
    ("California: none", gpp_string([(8, us_state_section(3, [2, 2]))]), [8], False, False, None),
    (
        "Virginia: targeted opt-out",
        gpp_string([(9, us_state_section(3, [2, 1]))]),
        [9],
        True,
        False,
        None,
    ),
    ("Colorado: none", gpp_string([(10, us_state_section(3, [2, 2]))]), [10], False, False, None),
    (
        "Utah: targeted opt-out",
        gpp_string([(11, us_state_section(4, [2, 1]))]),
        [11],
        True,
        False,
        None,
    ),
    # A Utah string read with Virginia's offsets would land on its fourth notice (1).
    ("Utah: none", gpp_string([(11, us_state_section(4, [2, 2]))]), [11], False, False, None),
    (
        "Connecticut: sale opt-out",
        gpp_string([(12, us_state_section(3, [1, 2]))]),
        [12],
        True,
        False,
        None,
    ),
    (
        "California version 2: unread",
        gpp_string([(8, us_state_section(3, [2, 2], version=2))]),
        [8],
        True,
        False,
        None,
    ),
    (
        "Florida (unread): opted out",
        gpp_string([(13, us_state_section(3, [2, 2]))]),
        [13],
        True,
        False,
        None,
    ),
    ("California, as CMPs send it", "DBABBg~BVoYYZoI", [8], False, False, None),
    ("applicable section missing", gpp_string([(6, "1NNN")]), [6, 7], True, False, None),
    ("EU section built here", gpp_string([(2, TC)]), [2], False, True, TC),
    ("EU applies, section missing", gpp_string([(6, "1NNN")]), [2, 6], False, True, None),
    ("junk header, US section applies", "not-gpp~1YNN", [6], True, False, None),
    ("junk header, EU applies", "%%%", [2], False, True, None),
    ("sid without a string", None, [7], True, False, None),
    (
        "header section 3 is not a privacy section",
        gpp_string([(6, "1NNN")]),
        [3, 6],
        False,
        False,
        None,
    ),
    ("nothing", None, None, False, False, None),
]


@pytest.mark.parametrize(
    ("gpp", "sid", "opt_out", "eu", "tc"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_applicable_sections(
    gpp: str | None, sid: list[int] | None, opt_out: bool, eu: bool, tc: str | None
) -> None:
    assert gpp_signals(gpp, sid) == GppSignals(opt_out, eu, tc)


def test_the_encoder_here_writes_the_spec_header() -> None:
    assert gpp_string([(2, "x"), (6, "y")]).split("~")[0] == "DBACNYA"
    assert gpp_string([(7, "x")]).split("~")[0] == "DBABLA"
