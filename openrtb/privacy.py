"""What personal data may leave the exchange, by the regulations a request declares.

Applied to the request before any bidder sees it (in-process routers included: they are
DSPs too). Three signals restrict it, and each removes the same things — identifiers a
buyer could follow a person with, and precision that locates them:

* ``regs.coppa = 1`` (the inventory is directed to children);
* ``regs.gdpr = 1`` without a consent string (``user.consent``, or ``user.ext.consent`` as
  OpenRTB 2.5 sent it) — the exchange does not decode TCF strings: any consent string is
  passed on for the buyers to honour, none means no personal data;
* ``regs.us_privacy`` with opt-out of sale (third character ``Y``, e.g. ``1YYN``).

Removed: ``user.id``, ``buyeruid``, ``yob``, ``gender``, ``eids``, ``data``, ``customdata``,
the user's and the device's geo coordinates, and every device identifier (``ifa``, the
hashed ids and MACs). The IP is truncated (IPv4 to /24, IPv6 to /48) so that coarse location
and fraud screening keep working. The user agent stays (the ad must render). A request under
none of these signals is returned as it is, without a copy.
"""

import ipaddress

from openrtb.audience import Device, Geo, User
from openrtb.request import BidRequest

_DEVICE_IDS = ("ifa", "didsha1", "didmd5", "dpidsha1", "dpidmd5", "macsha1", "macmd5")
_USER_IDS = ("id", "buyeruid", "yob", "gender", "eids", "data", "customdata")


def restricted(request: BidRequest) -> bool:
    """Whether the request's regulations forbid passing personal data on."""
    regs = request.regs
    if regs is None:
        return False
    if regs.coppa == 1:
        return True
    if regs.gdpr == 1 and not _consent(request.user):
        return True
    us_privacy = regs.us_privacy
    return us_privacy is not None and len(us_privacy) >= 3 and us_privacy[2] in "Yy"


def _consent(user: User | None) -> str | None:
    if user is None:
        return None
    if user.consent:
        return user.consent
    ext = user.ext or {}
    value = ext.get("consent")
    return value if isinstance(value, str) and value else None


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


def _device(device: Device | None) -> Device | None:
    if device is None:
        return None
    update: dict[str, object] = dict.fromkeys(_DEVICE_IDS)
    update["ip"] = truncate_ip(device.ip, 24)
    update["ipv6"] = truncate_ip(device.ipv6, 48)
    update["geo"] = _coarse(device.geo)
    return device.model_copy(update=update)


def _user(user: User | None) -> User | None:
    if user is None:
        return None
    update: dict[str, object] = dict.fromkeys(_USER_IDS)
    update["geo"] = _coarse(user.geo)
    return user.model_copy(update=update)


def apply_privacy(request: BidRequest) -> BidRequest:
    """The request as bidders may see it under its regulations (see the module)."""
    if not restricted(request):
        return request
    return request.model_copy(
        update={"device": _device(request.device), "user": _user(request.user)}
    )
