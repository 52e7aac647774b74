"""GPP (``regs.gpp``, ``regs.gpp_sid``): which of its sections restrict a request.

PyPI has no maintained GPP decoder for Python, so this reads the little the exchange needs,
from the IAB GPP specification (docs/decisions.md): the header's section ids (Fibonacci
range), and of the sections ``gpp_sid`` says apply:

* 2, EU TCF v2: its TC string, honoured like ``user.consent`` (``openrtb.tcf``), and GDPR
  applies;
* 6, US Privacy (USP v1): opted out when its third character is ``Y``, as ``regs.us_privacy``;
* 7, US National, and the first state sections — 8 California, 9 Virginia, 10 Colorado,
  11 Utah, 12 Connecticut: opted out when any of the section's sale, sharing or
  targeted-advertising opt-outs is 1 ("opted out"); each is 2 bits after the 6-bit version
  and the section's 2-bit notices (``_US_OPT_OUTS``);
* 3 and 4 (the header, signal integrity) say nothing about the user and are skipped;
* any other section — later US states, Canada, ones not registered yet — another section
  version, and any applicable section that is missing or does not decode: treated as opted
  out. The exchange cannot tell what such a user allowed, so it sends what an opt-out
  allows.

``gpp_sid`` missing with a ``gpp`` string: every section in the string applies.
"""

from dataclasses import dataclass
from typing import Final

__all__ = ["NO_GPP", "GppSignals", "gpp_signals"]

TCF_EU: Final = 2
USP_V1: Final = 6
US_NATIONAL: Final = 7
_US_OPT_OUTS: Final = {
    US_NATIONAL: (18, 20, 22),  # six notices; SaleOptOut, SharingOptOut, TargetedAdvertising…
    8: (12, 14),  # California: three notices; SaleOptOut, SharingOptOut
    9: (12, 14),  # Virginia: three notices; SaleOptOut, TargetedAdvertisingOptOut
    10: (12, 14),  # Colorado: as Virginia
    11: (14, 16),  # Utah: four notices; SaleOptOut, TargetedAdvertisingOptOut
    12: (12, 14),  # Connecticut: as Virginia
}
"""Bit offsets of each US section's opt-outs (version 1 of each)."""
_BASE64URL: Final = {
    char: format(value, "06b")
    for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_NOT_PRIVACY: Final = frozenset({3, 4})
_OPTED_OUT: Final = 1
_MAX_GPP: Final = 8192


@dataclass(frozen=True, slots=True)
class GppSignals:
    """What the applicable GPP sections say."""

    opt_out: bool
    """A US (or unknown) section opts out of sale, sharing or targeted advertising."""
    eu: bool
    """The EU TCF section applies: GDPR does."""
    tc_string: str | None
    """The EU section's TC string, when present."""


NO_GPP: Final = GppSignals(opt_out=False, eu=False, tc_string=None)


def gpp_signals(gpp: str | None, gpp_sid: list[int] | None) -> GppSignals:
    """The applicable sections of a GPP string, read as the module says."""
    if not gpp and not gpp_sid:
        return NO_GPP
    sections = _sections(gpp or "")
    applicable = gpp_sid if gpp_sid is not None else sorted(sections or {})
    opt_out = False
    eu = False
    tc_string = None
    for sid in applicable:
        text = None if sections is None else sections.get(sid)
        if sid == TCF_EU:
            eu = True
            tc_string = text
        elif sid in _NOT_PRIVACY:
            continue
        elif sid == USP_V1:
            opt_out |= text is None or len(text) < 3 or text[2] not in "Nn-"
        elif sid in _US_OPT_OUTS:
            opt_out |= text is None or _us_opts_out(text, _US_OPT_OUTS[sid])
        else:
            opt_out = True
    return GppSignals(opt_out, eu, tc_string)


def _bits(text: str) -> str | None:
    """The bits of GPP's base64url (6 bits a character, no padding: its length need not be
    a multiple of 4, so the standard decoder does not fit); None for another character."""
    try:
        return "".join([_BASE64URL[char] for char in text])
    except KeyError:
        return None


def _sections(gpp: str) -> dict[int, str] | None:
    """Section id → section string; None when the header does not decode."""
    if len(gpp) > _MAX_GPP:
        return None
    header, *bodies = gpp.split("~")
    bits = _bits(header)
    if bits is None or len(bits) < 24 or int(bits[:6], 2) != 3 or int(bits[6:12], 2) != 1:
        return None
    ids = _fibonacci_range(bits, 12)
    if ids is None or len(ids) != len(bodies):
        return None
    return dict(zip(ids, bodies, strict=True))


def _fibonacci_range(bits: str, at: int) -> list[int] | None:
    """GPP's Range(Fibonacci): a 12-bit count, then per entry a range flag and one or two
    Fibonacci-coded offsets (from the previous entry's end, then from the start)."""
    count = int(bits[at : at + 12], 2)
    at += 12
    ids: list[int] = []
    last = 0
    for _ in range(count):
        if at >= len(bits):
            return None
        is_range = bits[at] == "1"
        start = _fibonacci(bits, at + 1)
        if start is None:
            return None
        offset, at = start
        first = last + offset
        if is_range:
            end = _fibonacci(bits, at)
            if end is None:
                return None
            length, at = end
            ids.extend(range(first, first + length + 1))
            last = first + length
        else:
            ids.append(first)
            last = first
        if len(ids) > 64:  # more sections than the registry has: not a GPP string
            return None
    return ids


def _fibonacci(bits: str, at: int) -> tuple[int, int] | None:
    """The Fibonacci-coded integer at ``at`` (ends at "11") and the position after it."""
    value, fib, nxt = 0, 1, 2
    previous = "0"
    while at < len(bits):
        bit = bits[at]
        at += 1
        if bit == "1" and previous == "1":
            return value, at
        if bit == "1":
            value += fib
        fib, nxt = nxt, fib + nxt
        previous = bit
    return None


def _us_opts_out(section: str, offsets: tuple[int, ...]) -> bool:
    """Whether a US section (version 1; its core segment, before any ".") opts out at any
    of ``offsets``. Undecodable, too short or another version: opted out."""
    bits = _bits(section.split(".")[0])
    if bits is None or len(bits) < offsets[-1] + 2 or int(bits[:6], 2) != 1:
        return True
    return any(int(bits[at : at + 2], 2) == _OPTED_OUT for at in offsets)
