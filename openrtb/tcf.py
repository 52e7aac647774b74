"""TCF v2.2 consent: what a TC string lets one vendor do, decoded by ``iab-tcf``.

A TC string (``user.consent``, or the EU section of a GPP string) is decoded once per
request — by the library, never by hand — into a ``TcfConsent`` that answers per vendor.
Decoding is cached by string: the strings of one user repeat across requests, and a long
vendor bitfield costs tens of microseconds in pure Python.

A string is refused (``decode_tc_string`` returns None: no consent for anyone) when it is
empty, not base64, not version 2, longer than ``MAX_TC_STRING`` characters, or shorter than
its own fields say. The last check matters: the library reads past the end of a truncated
string as empty bits, which it takes for "yes" — a truncated ``"CO-x"`` would otherwise
grant every purpose.

What a vendor may do (TCF v2.2 policy; docs/privacy.md has the table):

* purpose 1 (store and/or access information on a device): consent only;
* purpose 2 (basic ads): consent or legitimate interest;
* purposes 3 and 4 (personalised-ads profile and selection): consent only — v2.2 removed
  legitimate interest for them;
* special feature 1 (precise geolocation): the user's opt-in;

each with the vendor's own consent (or legitimate interest) bit as well as the purpose's,
and never against a publisher restriction: type 0 forbids the purpose for that vendor,
type 1 allows it by consent only, type 2 by legitimate interest only.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import iab_tcf

__all__ = ["MAX_TC_STRING", "TcfConsent", "decode_tc_string"]

MAX_TC_STRING: Final = 4096
"""Longer strings are refused unread: a bitfield of every possible vendor id is 8 KB of
base64 and would cost milliseconds to decode (a real one is well under 2 KB)."""

STORE_ACCESS: Final = 1
BASIC_ADS: Final = 2
PROFILE: Final = 3
PERSONALISED_ADS: Final = 4
PRECISE_GEO: Final = 1
"""Special feature 1."""

_LI_ALLOWED: Final = frozenset({BASIC_ADS, 7, 8, 9, 10, 11})
"""Purposes a vendor may rely on legitimate interest for under TCF v2.2."""
_NOT_ALLOWED, _CONSENT_ONLY, _LI_ONLY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class TcfConsent:
    """One decoded TC string (core segment)."""

    _decoded: Any
    """The library's ``ConsentV2`` (untyped)."""
    _purposes: frozenset[int]
    """Purposes the user consented to (read once: asked again for every bidder)."""
    _li_purposes: frozenset[int]
    _restrictions: bool

    @classmethod
    def of(cls, decoded: Any) -> "TcfConsent":
        """The consent of the library's decoded string."""
        return cls(
            decoded,
            frozenset(p for p, on in decoded.purposes_consent.items() if on),
            frozenset(p for p, on in decoded.purposes_legitimate_interests.items() if on),
            bool(decoded.pub_restriction_entries),
        )

    def allows(self, vendor_id: int, purpose: int) -> bool:
        """Whether ``vendor_id`` may process for ``purpose``: by consent, or by legitimate
        interest where v2.2 allows it, within the publisher's restrictions."""
        decoded = self._decoded
        kind = None
        if self._restrictions:
            restriction = decoded.get_restriction(vendor_id, purpose)
            kind = None if restriction is None else restriction.restriction_type
            if kind == _NOT_ALLOWED:
                return False
        if purpose in self._purposes and kind != _LI_ONLY and decoded.is_vendor_allowed(vendor_id):
            return True
        if purpose not in _LI_ALLOWED or kind == _CONSENT_ONLY:
            return False
        return purpose in self._li_purposes and bool(decoded.is_interest_allowed(vendor_id))

    def special_feature(self, feature: int) -> bool:
        """Whether the user opted in to special feature ``feature``."""
        return bool(self._decoded.special_features_optin.get(feature, False))


def decode_tc_string(text: str) -> TcfConsent | None:
    """The consent a TC string carries; None when it is refused (see the module)."""
    if not text or len(text) > MAX_TC_STRING:
        return None
    return _decode(text)


@lru_cache(maxsize=4096)
def _decode(text: str) -> TcfConsent | None:
    try:
        decoded = iab_tcf.decode(text)
    except Exception:  # any malformed string, whatever the library raises: no consent
        return None
    if not isinstance(decoded, iab_tcf.ConsentV2) or decoded.version != 2:
        return None
    reader = decoded._reader  # the library keeps no other trace of how far it read
    if reader._pointer > len(reader._consent):
        return None  # truncated: the missing bits were read as "yes"
    return TcfConsent.of(decoded)
