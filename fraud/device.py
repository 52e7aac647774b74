"""Device fields that no real device sends (no-bid reason 6, unsupported device).

Pure checks over ``device``: an IP that is not a public, routable address (private,
loopback, link-local, reserved, documentation ranges), a user agent whose operating system
contradicts ``device.os`` or ``devicetype``, and screens no device has. Each answers a
short reason or None; the screen decides what to do with it.
"""

from typing import Final

from fraud.ip_ranges import IpRanges, IpValue, ip_value
from openrtb.audience import Device

NOT_PUBLIC: Final = IpRanges.of(
    (
        # IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates), multicast, class E
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
        # IANA IPv6 Special-Purpose Address Registry, unique local, link local, multicast
        "::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
    ),
    "not public",
)  # fmt: skip
"""Addresses no user's device is seen from on the internet (what ``ipaddress``'s
``is_global`` refuses, as one interval table: a bisect instead of a scan of networks)."""

MAX_SCREEN_PX: Final = 16_384
"""Wider or taller than any display made (8K is 7,680 pixels)."""
MAX_PPI: Final = 2_000
MAX_PXRATIO: Final = 10.0

_PHONE_OR_TABLET: Final = frozenset({1, 4, 5})
"""devicetype 1 mobile/tablet, 4 phone, 5 tablet (AdCOM "List: Device Types")."""
_PC: Final = 2

_UA_FAMILIES: Final = (
    ("Windows Phone", "windows phone"),
    ("Android", "android"),
    ("iPhone", "ios"),
    ("iPad", "ios"),
    ("iPod", "ios"),
    ("CrOS", "chromeos"),
    ("Windows NT", "windows"),
    ("Macintosh", "macos"),
)
"""UA token → OS family, first match wins (Android UAs say "Linux", iPhones "Mac OS X")."""

_OS_FAMILIES: Final = {
    "android": "android",
    "ios": "ios",
    "ipados": "ios",
    "iphone os": "ios",
    "windows": "windows",
    "macos": "macos",
    "mac os x": "macos",
    "os x": "macos",
    "chrome os": "chromeos",
    "chromeos": "chromeos",
    "windows phone": "windows phone",
}


def parse_ip(device: Device) -> IpValue | None:
    """``device.ip`` (else ``ipv6``) parsed; None when absent or not an address."""
    text = device.ip or device.ipv6
    return ip_value(text) if text else None


def ip_problem(device: Device, ip: IpValue | None) -> str | None:
    """Why the device's IP cannot be a user's, if it cannot."""
    if ip is None:
        return "ip is not an address" if (device.ip or device.ipv6) else None
    if NOT_PUBLIC.provider(ip) is not None:
        return f"ip {device.ip or device.ipv6} is not a public address"
    return None


def ua_family(user_agent: str) -> str | None:
    """The OS family a user agent claims, when it names one."""
    for token, family in _UA_FAMILIES:
        if token in user_agent:
            return family
    return None


def consistency_problem(device: Device) -> str | None:
    """Why the UA, ``os``, ``devicetype`` and screen cannot all be true, if they cannot."""
    family = ua_family(device.ua) if device.ua else None
    if family is not None:
        stated = _OS_FAMILIES.get(device.os.strip().lower()) if device.os else None
        if stated is not None and stated != family:
            return f"ua says {family}, os says {device.os}"
        devicetype = device.devicetype
        if devicetype in _PHONE_OR_TABLET and family == "windows":
            return f"ua says {family}, devicetype {devicetype} is a phone or tablet"
        if devicetype == _PC and family in ("android", "ios"):
            return f"ua says {family}, devicetype 2 is a personal computer"
    for name, value in (("w", device.w), ("h", device.h)):
        if value is not None and not 0 < value <= MAX_SCREEN_PX:
            return f"screen {name}={value} is impossible"
    if device.ppi is not None and not 0 < device.ppi <= MAX_PPI:
        return f"ppi={device.ppi} is impossible"
    if device.pxratio is not None and not 0 < device.pxratio <= MAX_PXRATIO:
        return f"pxratio={device.pxratio} is impossible"
    return None
