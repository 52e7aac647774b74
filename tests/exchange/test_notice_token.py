"""Notice tokens: a valid one round-trips; forged, tampered, expired or malformed ones fail."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.notice_token import ClickRef, InvalidNotice, NoticeClaim, NoticeKind, NoticeSigner

SIGNER = NoticeSigner(b"0123456789abcdef-test-secret")


def claim(**overrides: object) -> NoticeClaim:
    fields: dict[str, object] = {
        "kind": NoticeKind.WIN,
        "auction_id": "auc-1",
        "imp_id": "1",
        "bid_id": "b-1",
        "seat": "acme",
        "bidder": "house",
        "campaign_id": "c1",
        "ad_id": "cr1",
        "price_micros": 1_910_000,
        "currency": "USD",
        "billable": True,
        "issued_at_s": 1_000,
        "expires_at_s": 2_000,
        "forward_url": "https://dsp.example/win?p=${AUCTION_PRICE}",
    }
    fields.update(overrides)
    return NoticeClaim(**fields)  # type: ignore[arg-type]


def test_round_trip() -> None:
    original = claim()
    assert SIGNER.verify(SIGNER.sign(original), now_s=1_500) == original
    assert original.impression_id == "auc-1:1:b-1"


def test_token_is_url_safe() -> None:
    token = SIGNER.sign(claim(auction_id="a/b+c?d=e&f"))
    assert all(ch.isalnum() or ch in "-_." for ch in token)


def test_expired_token_is_refused() -> None:
    with pytest.raises(InvalidNotice, match="expired"):
        SIGNER.verify(SIGNER.sign(claim()), now_s=2_001)


def test_other_secret_is_refused() -> None:
    other = NoticeSigner(b"another-secret-of-16+bytes")
    with pytest.raises(InvalidNotice, match="bad signature"):
        SIGNER.verify(other.sign(claim()), now_s=1_500)


def test_tampered_price_is_refused() -> None:
    token = SIGNER.sign(claim())
    payload, _, mac = token.partition(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b"1910000", b"1").rstrip(b"=")).decode()
    with pytest.raises(InvalidNotice, match="bad signature"):
        SIGNER.verify(f"{forged.rstrip('=')}.{mac}", now_s=1_500)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???", "é.é"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidNotice):
        SIGNER.verify(token, now_s=1_500)


@given(st.text(max_size=200))
def test_arbitrary_text_never_verifies_nor_crashes(token: str) -> None:
    with pytest.raises(InvalidNotice):
        SIGNER.verify(token, now_s=1_500)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        NoticeSigner(b"short")


def test_a_click_id_round_trips_and_refuses_tampering() -> None:
    signer = NoticeSigner(b"click-id-test-secret-0123456789")
    ref = ClickRef("house", "acme", "a1:1:b1", 1_795_000_000)
    click, tag = signer.click_id(ref)
    assert signer.read_click(click, tag) == ref
    with pytest.raises(InvalidNotice, match="not a click id"):
        signer.read_click(click, "A" * len(tag))
    with pytest.raises(InvalidNotice, match="not a click id"):
        signer.read_click(click[:-1] + ("A" if click[-1] != "A" else "B"), tag)
    other = NoticeSigner(b"another-click-secret-0123456789")
    with pytest.raises(InvalidNotice):
        other.read_click(click, tag)
