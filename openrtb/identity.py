"""Who the impression is for, as a key for frequency caps: stable, opaque, never raw.

In order: ``user.id``, ``user.buyeruid``, ``device.ifa``, else the IP and user agent
together (after the privacy rules ran, so under COPPA or GDPR without consent that is the
truncated IP: a coarse key, which is the point). The key is a 64-bit HMAC-SHA256 of the
identifier under a secret: it identifies the same person across requests without carrying
the identifier, and, unlike a bare hash, nobody without the secret can recompute it from a
known user id or brute-force an IP address out of it. Every process sharing a counter store
must use the same secret (the exchange derives it from the notice secret).
"""

import hmac
import secrets
from typing import Final

from openrtb.request import BidRequest

_KEY_BYTES: Final = 8


class UserKeys:
    """Derives users' cap keys with one secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("user key secret must be at least 16 bytes")
        self._secret = secret

    def of(self, request: BidRequest) -> str | None:
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
        return self.of_id(raw)

    def of_id(self, raw: str) -> str:
        """The key of one identifier as a request would carry it (``user.id``, ``buyeruid``
        or ``device.ifa``): what an operator declaring segments for a user knows."""
        return hmac.digest(self._secret, raw.encode(), "sha256")[:_KEY_BYTES].hex()


PROCESS_USER_KEYS: Final = UserKeys(secrets.token_bytes(32))
"""A secret of this process only: what one process (the demo, a test, the simulation) uses
when nothing shared is configured."""
