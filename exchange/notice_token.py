"""Signed notice tokens: what a win, billing or click URL carries back to the exchange.

One token per winning bid (kind ``impression``): its win URL, billing URL and click redirect
carry the same token, and the path names the notice. It holds the bidder's own win and
billing URLs and, for the exchange's own creatives, the landing page; verifying it for a
path gives the claim of that notice (``for_notice``). Any notice of an impression charges it
at most once, so a token fired at another of its paths can move no more money.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))``; the payload
is a compact JSON array of the claim. Stateless on purpose: any exchange process can verify
a notice for an auction another process ran, with no lookup on the request path. The
expiry bounds how long a notice can be replayed; idempotency keys (kept at least that long)
make replays within it harmless.
"""

import base64
import binascii
import hmac
from enum import StrEnum
from typing import Final, NamedTuple

import orjson

_VERSION: Final = 1


class NoticeKind(StrEnum):
    """The notices the exchange issues URLs for."""

    WIN = "win"
    BILLING = "billing"
    CLICK = "click"
    IMPRESSION = "impression"
    """A token for all three notices of one won impression (never a path of its own)."""


class InvalidNotice(ValueError):
    """A token that is malformed, forged or expired (the caller answers 403)."""


class NoticeClaim(NamedTuple):
    """What the exchange promised when it issued the notice URL.

    A NamedTuple: its fields in order *are* the token payload, so signing costs one tuple
    unpack, not a field-by-field copy. ``forward_url`` is the URL this notice forwards to (the
    bidder's nurl for a win, burl for billing, the landing page for a click); an
    ``impression`` token carries the billing and landing URLs beside its win URL.
    """

    kind: NoticeKind
    auction_id: str
    imp_id: str
    bid_id: str
    seat: str
    bidder: str
    campaign_id: str
    ad_id: str
    price_micros: int
    currency: str
    billable: bool
    issued_at_s: int
    expires_at_s: int
    forward_url: str | None
    bid_currency: str = ""
    """The currency the bidder bid in; empty when it is ``currency``."""
    bid_price_micros: int = 0
    """The clearing price in ``bid_currency`` (rounded down): ${AUCTION_PRICE} for the bidder."""
    user_key: str = ""
    """The frequency-cap key of the user (``openrtb.identity``; opaque), empty when unknown."""
    billing_url: str | None = None
    """An ``impression`` token's bidder burl."""
    landing_url: str | None = None
    """An ``impression`` token's landing page (the exchange's own creatives only)."""
    profiled: bool = False
    """The user's request allowed profiling (``openrtb.privacy.may_profile``): its notices
    and click may count in the profile of ``user_key``."""

    @property
    def impression_id(self) -> str:
        """Identity of the won impression: shared by its win and billing notices."""
        return f"{self.auction_id}:{self.imp_id}:{self.bid_id}"


_FORWARD_FIELD: Final = {
    NoticeKind.WIN: "forward_url",
    NoticeKind.BILLING: "billing_url",
    NoticeKind.CLICK: "landing_url",
}


def for_notice(claim: NoticeClaim, kind: NoticeKind) -> NoticeClaim:
    """The claim of the ``kind`` notice a verified token stands for; InvalidNotice when the
    token is not for it (a click without a landing page; a token of another single kind)."""
    if claim.kind is NoticeKind.IMPRESSION and kind is not NoticeKind.IMPRESSION:
        forward = getattr(claim, _FORWARD_FIELD[kind])
        if kind is NoticeKind.CLICK and not forward:
            raise InvalidNotice("token has no click redirect")
        return claim._replace(kind=kind, forward_url=forward, billing_url=None, landing_url=None)
    if claim.kind is not kind:
        raise InvalidNotice(f"token is for a {claim.kind.value} notice")
    return claim


class ClickRef(NamedTuple):
    """What a click id handed to the advertiser stands for: whose click, on which
    impression, when. Its fields in order are the id's payload."""

    bidder: str
    campaign_id: str
    impression_id: str
    clicked_at_s: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class NoticeSigner:
    """Issues and verifies tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("notice secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.digest(self._secret, payload, "sha256")  # one-shot: the C fast path

    def tag(self, text: str) -> str:
        """A short MAC of ``text`` (128 bits), for ids handed to advertisers (click ids)."""
        return _b64encode(self._mac(b"tag:" + text.encode())[:16])

    def check_tag(self, text: str, tag: str) -> bool:
        """Whether ``tag`` is this signer's tag of ``text`` (constant time)."""
        return hmac.compare_digest(self.tag(text), tag)

    def click_id(self, ref: ClickRef) -> tuple[str, str]:
        """The click id (``rtb_click``) for ``ref`` and its tag (``rtb_sig``)."""
        text = _b64encode(orjson.dumps((_VERSION, *ref)))
        return text, self.tag(text)

    def read_click(self, click_id: str, tag: str) -> ClickRef:
        """The click behind an id this signer issued; InvalidNotice for anything else."""
        if not self.check_tag(click_id, tag):
            raise InvalidNotice("not a click id this exchange issued")
        try:
            version, *fields = orjson.loads(_b64decode(click_id))
        except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise InvalidNotice("undecodable click id") from exc
        if version != _VERSION or len(fields) != len(ClickRef._fields):
            raise InvalidNotice(f"unsupported click id version {version}")
        return ClickRef(*fields)

    def sign(self, claim: NoticeClaim) -> str:
        """The token for ``claim``."""
        payload = orjson.dumps((_VERSION, *claim))
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def verify(self, token: str, now_s: float) -> NoticeClaim:
        """The claim inside ``token``, or InvalidNotice saying why not."""
        payload_text, dot, mac_text = token.partition(".")
        if not dot or not payload_text or not mac_text:
            raise InvalidNotice("malformed token")
        try:
            payload = _b64decode(payload_text)
            mac = _b64decode(mac_text)
        except (binascii.Error, ValueError) as exc:
            raise InvalidNotice("malformed token") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidNotice("bad signature")
        claim = _claim_from_payload(payload)
        if claim.expires_at_s < now_s:
            raise InvalidNotice("expired")
        return claim


def _claim_from_payload(payload: bytes) -> NoticeClaim:
    """Decode a payload whose signature already checked out (so a failure is our bug or an
    old token version, never an attacker's input)."""
    try:
        version, kind, *fields = orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise InvalidNotice("undecodable token") from exc
    if version != _VERSION:
        raise InvalidNotice(f"unsupported token version {version}")
    try:
        return NoticeClaim(NoticeKind(kind), *fields)
    except (TypeError, ValueError) as exc:
        raise InvalidNotice("undecodable token") from exc
