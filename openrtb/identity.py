"""Who the impression is for, as a key for frequency caps: stable, opaque, never raw.

In order: ``user.id``, ``user.buyeruid``, ``device.ifa``, else the IP and user agent
together (after the privacy rules ran, so under COPPA or GDPR without consent that is the
truncated IP: a coarse key, which is the point). The key is a 64-bit BLAKE2b digest: it
identifies the same person across requests without carrying the identifier itself, so it
may travel in notice tokens and counters.
"""

from hashlib import blake2b

from openrtb.request import BidRequest


def user_key(request: BidRequest) -> str | None:
    """The caps key of the request's user, or None when nothing identifies them."""
    user, device = request.user, request.device
    raw: str | None = None
    if user is not None:
        raw = user.id or user.buyeruid
    if not raw and device is not None:
        raw = device.ifa
        if not raw and device.ua and (device.ip or device.ipv6):
            raw = f"{device.ip or device.ipv6}|{device.ua}"
    if not raw:
        return None
    return blake2b(raw.encode(), digest_size=8, person=b"rtb-user-key").hexdigest()
