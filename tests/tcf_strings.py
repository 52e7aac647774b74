"""Real TCF v2.2 TC strings and GPP strings for tests, encoded from the specifications.

``iab-tcf`` decodes but does not encode, so the tests build their strings here, field by
field as the TCF v2.2 "TC String" core segment and the GPP header, US National and US state
sections lay them out (the state sections differ in field order, not in widths);
``tests/openrtb/test_tcf.py`` checks they round-trip through the library, and
``tests/openrtb/test_gpp.py`` that the GPP header matches the specification's examples.
``IAB_EXAMPLE`` is the example string of the IAB's own TCF v2 documentation (purposes 1–3
consented), so the decoder is also checked against a string this module did not make.
"""

import base64
from collections.abc import Iterable

IAB_EXAMPLE = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"
DECISECONDS_2026 = 17_670_000_000  # 2026-01 in deciseconds since the epoch


class _Bits:
    def __init__(self) -> None:
        self.bits: list[str] = []

    def int(self, value: int, width: int) -> None:
        self.bits.append(format(value, f"0{width}b"))

    def flags(self, on: Iterable[int], width: int) -> None:
        chosen = set(on)
        self.bits.append("".join("1" if n in chosen else "0" for n in range(1, width + 1)))

    def letters(self, text: str) -> None:
        for char in text:
            self.int(ord(char) - ord("A"), 6)

    def fibonacci(self, value: int) -> None:
        """Fibonacci coding (Zeckendorf, least significant first, closed by an extra 1)."""
        fibs = [1, 2]
        while fibs[-1] <= value:
            fibs.append(fibs[-1] + fibs[-2])
        digits = ["0"] * len(fibs)
        rest = value
        for i in range(len(fibs) - 1, -1, -1):
            if fibs[i] <= rest:
                digits[i] = "1"
                rest -= fibs[i]
        self.bits.append("".join(digits).rstrip("0") + "1")

    def base64(self) -> str:
        bits = "".join(self.bits)
        bits += "0" * (-len(bits) % 8)
        raw = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def tc_string(
    *,
    purposes: Iterable[int] = (),
    li_purposes: Iterable[int] = (),
    vendors: Iterable[int] = (),
    li_vendors: Iterable[int] = (),
    special_features: Iterable[int] = (),
    not_allowed: Iterable[tuple[int, int]] = (),
    policy_version: int = 4,
    version: int = 2,
) -> str:
    """A TC string's core segment: consent for ``purposes`` and ``vendors``, legitimate
    interest for ``li_purposes`` and ``li_vendors``; ``not_allowed`` holds publisher
    restrictions of type 0 as (purpose, vendor)."""
    out = _Bits()
    out.int(version, 6)
    out.int(DECISECONDS_2026, 36)
    out.int(DECISECONDS_2026, 36)
    out.int(7, 12)  # CmpId
    out.int(1, 12)  # CmpVersion
    out.int(1, 6)  # ConsentScreen
    out.letters("EN")
    out.int(120, 12)  # VendorListVersion
    out.int(policy_version, 6)
    out.int(1, 1)  # IsServiceSpecific
    out.int(0, 1)  # UseNonStandardTexts
    out.flags(special_features, 12)
    out.flags(purposes, 24)
    out.flags(li_purposes, 24)
    out.int(0, 1)  # PurposeOneTreatment
    out.letters("DE")
    for chosen in (set(vendors), set(li_vendors)):
        top = max(chosen, default=0)
        out.int(top, 16)
        out.int(0, 1)  # bitfield encoding
        out.flags(chosen, top)
    restrictions = list(not_allowed)
    out.int(len(restrictions), 12)
    for purpose, vendor in restrictions:
        out.int(purpose, 6)
        out.int(0, 2)  # restriction type 0: purpose flatly not allowed
        out.int(1, 12)
        out.int(0, 1)  # a single vendor id
        out.int(vendor, 16)
    return out.base64()


def usnat_section(*, sale: int = 2, sharing: int = 2, targeted: int = 2) -> str:
    """A GPP US National (section 7, version 1) string: each opt-out 0 (not applicable), 1
    (opted out) or 2 (did not opt out); the notices say "provided"."""
    out = _Bits()
    out.int(1, 6)  # Version
    for _ in range(6):  # the six notices
        out.int(1, 2)
    out.int(sale, 2)
    out.int(sharing, 2)
    out.int(targeted, 2)
    out.int(0, 2 * 12)  # SensitiveDataProcessing
    out.int(0, 2 * 2)  # KnownChildSensitiveDataConsents
    out.int(0, 2)  # PersonalDataConsents
    out.int(2, 2)  # MspaCoveredTransaction: no
    out.int(0, 2)  # MspaOptOutOptionMode
    out.int(0, 2)  # MspaServiceProviderMode
    return out.base64()


def us_state_section(notices: int, opt_outs: list[int], *, version: int = 1) -> str:
    """A GPP US state section: the version, ``notices`` 2-bit notices ("provided"), then
    the section's opt-outs in its order (each 0, 1 opted out, or 2 did not), then the rest
    of the section as zeros."""
    out = _Bits()
    out.int(version, 6)
    for _ in range(notices):
        out.int(1, 2)
    for value in opt_outs:
        out.int(value, 2)
    out.int(0, 2 * 16)  # sensitive data, child consents, MSPA fields
    return out.base64()


def gpp_string(sections: list[tuple[int, str]]) -> str:
    """A GPP string: the header (type 3, version 1, the section ids as a Fibonacci range)
    and the sections, in id order as the header lists them."""
    out = _Bits()
    out.int(3, 6)
    out.int(1, 6)
    ids = sorted(section_id for section_id, _ in sections)
    out.int(len(ids), 12)
    previous = 0
    for section_id in ids:
        out.int(0, 1)  # a single id, as an offset from the previous one
        out.fibonacci(section_id - previous)
        previous = section_id
    body = [text for _, text in sorted(sections)]
    return "~".join([out.base64(), *body])
