"""Any consent or GPP string, however malformed, decodes to an answer — never an exception,
never more than a well-formed string could grant."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from openrtb.gpp import gpp_signals
from openrtb.privacy import NOTHING, Signals
from openrtb.tcf import decode_tc_string
from tests.tcf_strings import gpp_string, tc_string

B64 = string.ascii_letters + string.digits + "-_"
text = st.one_of(st.text(max_size=200), st.text(alphabet=B64 + ".~=", max_size=400))


@settings(max_examples=300, deadline=None)
@given(text)
def test_any_tc_string_decodes_or_is_refused(value: str) -> None:
    consent = decode_tc_string(value)
    grant = Signals(False, True, (consent,)).grant(755)
    if consent is None:
        assert grant == NOTHING


@settings(max_examples=300, deadline=None)
@given(text, st.one_of(st.none(), st.lists(st.integers(-5, 40), max_size=6)))
def test_any_gpp_string_decodes_to_signals(value: str, sid: list[int] | None) -> None:
    signals = gpp_signals(value, sid)
    if sid and any(s not in (2, 3, 4) for s in sid) and "~" not in value:
        assert signals.opt_out  # an applicable US or unknown section that is not there


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200))
def test_a_tc_string_cut_anywhere_never_grants_what_the_whole_does_not(cut: int) -> None:
    whole = tc_string(purposes=[1, 2], vendors=[1, 9, 300])
    vendor = 200  # within the bitfield, not consented in the whole string
    consent = decode_tc_string(whole[:cut])
    assert Signals(False, True, (consent,)).grant(vendor) == NOTHING


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=40))
def test_a_gpp_header_of_random_bits_never_raises(raw: bytes) -> None:
    header = gpp_string([(7, "x")]).split("~")[0]
    flipped = "".join(B64[(B64.index(c) + b) % 64] for c, b in zip(header * 4, raw, strict=False))
    gpp_signals(f"{flipped}~x", [7])
