"""What personal data may leave the exchange, per bidder, by the regulations a request declares.

Applied before any bidder sees a request (in-process routers included: they are DSPs too).
``privacy_signals`` reads a request's signals once — consent strings decoded once, however
many bidders there are — and ``Signals.grant`` says what one bidder (by its GVL vendor id)
may receive; ``restrict`` builds that view. Signals (docs/privacy.md has the full table):

* ``regs.coppa = 1``, ``regs.us_privacy`` opting out of sale (third character ``Y``), or a
  GPP US section opting out (``openrtb.gpp``): nobody gets personal data;
* GDPR applies (``regs.gdpr = 1``, or GPP's EU section): a bidder gets what its vendor's
  TCF consent allows (``openrtb.tcf``) — ids with purposes 1 and 2, user data (eids,
  segments, age, gender, keywords) with 3 and 4 as well, precise geolocation with special
  feature 1. No string, an empty or undecodable one, or a bidder without a vendor id: no
  personal data. Two strings (``user.consent`` and GPP's EU section): what both allow.

What a grant withholds:

* no ids: ``user.id``, ``buyeruid``, every device identifier (``ifa``, the hashed ids and
  MACs), and everything "no user data" withholds;
* no user data: ``eids``, ``data``, ``yob``, ``gender``, ``keywords``, ``kwarray``,
  ``customdata``; ``user.ext`` keeps only the keys of ``USER_EXT_KEPT``;
* no precise geo (implied by no ids): the user's and the device's coordinates, accuracy
  and zip, and the IP truncated (IPv4 to /24, IPv6 to /48, so that coarse location and
  fraud screening keep working); ``device.ext`` keeps only ``DEVICE_EXT_KEPT``.

The user agent stays (the ad must render), and so does the consent string (the buyers
honour it too). A request whose grant is ``FULL`` is returned as it is, without a copy.
"""

import ipaddress
from dataclasses import dataclass
from typing import Any, Final

from openrtb.audience import Device, Geo, User
from openrtb.gpp import NO_GPP, gpp_signals
from openrtb.request import BidRequest
from openrtb.tcf import (
    BASIC_ADS,
    PERSONALISED_ADS,
    PRECISE_GEO,
    PROFILE,
    STORE_ACCESS,
    TcfConsent,
    decode_tc_string,
)

__all__ = [
    "DEVICE_EXT_KEPT",
    "FULL",
    "NOTHING",
    "UNRESTRICTED",
    "USER_EXT_KEPT",
    "Grant",
    "Signals",
    "apply_privacy",
    "may_profile",
    "privacy_signals",
    "restrict",
    "restricted",
    "truncate_ip",
]

_DEVICE_IDS = ("ifa", "didsha1", "didmd5", "dpidsha1", "dpidmd5", "macsha1", "macmd5")
_USER_IDS = ("id", "buyeruid")
_USER_DATA = ("yob", "gender", "eids", "data", "customdata", "keywords", "kwarray")
DEVICE_EXT_KEPT: Final = frozenset({"atts"})
"""``device.ext`` keys kept without precise-data rights: Apple's tracking-authorisation
status says what the user allowed, not who they are. Anything else may be an id."""
USER_EXT_KEPT: Final = frozenset[str]()
"""``user.ext`` keys kept without user-data rights: none (``ext.eids``, ``ext.data``,
``ext.prebid.buyeruids`` … are all personal)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What one bidder may receive of a request's personal data (hashable: views are
    cached by it)."""

    ids: bool
    user_data: bool
    precise_geo: bool

    def __and__(self, other: "Grant") -> "Grant":
        return Grant(
            self.ids and other.ids,
            self.user_data and other.user_data,
            self.precise_geo and other.precise_geo,
        )


FULL: Final = Grant(ids=True, user_data=True, precise_geo=True)
NOTHING: Final = Grant(ids=False, user_data=False, precise_geo=False)


@dataclass(frozen=True, slots=True)
class Signals:
    """A request's privacy signals, consent strings decoded (once per request)."""

    blanket: bool
    """COPPA or a US opt-out: nobody gets personal data."""
    gdpr: bool
    consents: tuple[TcfConsent | None, ...] = ()
    """Each TC string of the request, decoded; None for one that did not decode."""

    def grant(self, vendor_id: int | None) -> Grant:
        """What the bidder of GVL vendor ``vendor_id`` (None: none) may receive."""
        if self.blanket:
            return NOTHING
        if not self.gdpr:
            return FULL
        if vendor_id is None or not self.consents:
            return NOTHING
        grant = FULL
        for consent in self.consents:
            grant &= NOTHING if consent is None else _tcf_grant(consent, vendor_id)
        return grant


UNRESTRICTED: Final = Signals(blanket=False, gdpr=False)


def _tcf_grant(consent: TcfConsent, vendor_id: int) -> Grant:
    ids = consent.allows(vendor_id, STORE_ACCESS) and consent.allows(vendor_id, BASIC_ADS)
    return Grant(
        ids=ids,
        user_data=ids
        and consent.allows(vendor_id, PROFILE)
        and consent.allows(vendor_id, PERSONALISED_ADS),
        precise_geo=ids and consent.special_feature(PRECISE_GEO),
    )


def privacy_signals(request: BidRequest) -> Signals:
    """The signals of ``request`` (its 2.5 extensions already read: ``openrtb.upgrade``)."""
    regs = request.regs
    if regs is None:
        return UNRESTRICTED
    gpp = gpp_signals(regs.gpp, regs.gpp_sid) if regs.gpp or regs.gpp_sid else NO_GPP
    us_privacy = regs.us_privacy
    us_opt_out = us_privacy is not None and len(us_privacy) >= 3 and us_privacy[2] in "Yy"
    if regs.coppa == 1 or us_opt_out or gpp.opt_out:
        return Signals(blanket=True, gdpr=regs.gdpr == 1 or gpp.eu)
    if regs.gdpr != 1 and not gpp.eu:
        return UNRESTRICTED
    strings = []
    if request.user is not None and request.user.consent:
        strings.append(request.user.consent)
    if gpp.tc_string and gpp.tc_string not in strings:
        strings.append(gpp.tc_string)
    return Signals(False, True, tuple(decode_tc_string(text) for text in strings))


def may_profile(signals: Signals, vendor_id: int | None) -> bool:
    """Whether the bidder of ``vendor_id`` may keep and read a profile of the user: ids and
    user data (TCF purposes 1 to 4: store, basic ads, create and use a personalised-ads
    profile), so never under COPPA or a US opt-out, nor under GDPR without that consent."""
    grant = signals.grant(vendor_id)
    return grant.ids and grant.user_data


def restricted(request: BidRequest) -> bool:
    """Whether a bidder without a GVL vendor id may not get the request's personal data."""
    return privacy_signals(request).grant(None) != FULL


def truncate_ip(ip: str | None, prefix: int) -> str | None:
    """The network part of ``ip`` (host bits zeroed); None when it is not an address."""
    if not ip:
        return ip
    try:
        network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    except ValueError:
        return None
    return str(network.network_address)


def _coarse(geo: Geo | None) -> Geo | None:
    if geo is None:
        return None
    return geo.model_copy(update={"lat": None, "lon": None, "accuracy": None, "zip": None})


def _kept(ext: dict[str, Any] | None, allowed: frozenset[str]) -> dict[str, Any] | None:
    if not ext:
        return ext
    return {key: value for key, value in ext.items() if key in allowed} or None


def _device(device: Device | None, grant: Grant) -> Device | None:
    if device is None:
        return None
    update: dict[str, object] = {} if grant.ids else dict.fromkeys(_DEVICE_IDS)
    if not grant.precise_geo:
        update["ip"] = truncate_ip(device.ip, 24)
        update["ipv6"] = truncate_ip(device.ipv6, 48)
        update["geo"] = _coarse(device.geo)
    if not (grant.ids and grant.precise_geo):
        update["ext"] = _kept(device.ext, DEVICE_EXT_KEPT)
    return device.model_copy(update=update)


def _user(user: User | None, grant: Grant) -> User | None:
    if user is None:
        return None
    update: dict[str, object] = {} if grant.ids else dict.fromkeys(_USER_IDS)
    if not grant.user_data:
        update.update(dict.fromkeys(_USER_DATA))
        update["ext"] = _kept(user.ext, USER_EXT_KEPT)
    if not grant.precise_geo:
        update["geo"] = _coarse(user.geo)
    return user.model_copy(update=update)


def restrict(request: BidRequest, grant: Grant) -> BidRequest:
    """The request as a bidder with ``grant`` may see it (see the module)."""
    if grant == FULL:
        return request
    grant = Grant(grant.ids, grant.ids and grant.user_data, grant.ids and grant.precise_geo)
    return request.model_copy(
        update={"device": _device(request.device, grant), "user": _user(request.user, grant)}
    )


def apply_privacy(request: BidRequest, vendor_id: int | None = None) -> BidRequest:
    """The request as the bidder of GVL vendor ``vendor_id`` may see it (one-off callers;
    the exchange reads the signals once and builds each distinct view once)."""
    return restrict(request, privacy_signals(request).grant(vendor_id))
