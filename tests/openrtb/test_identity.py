"""Users' cap keys: the first identifier present, keyed with a secret, never the raw id."""

import hashlib
from typing import Any

import pytest

from openrtb.identity import UserKeys
from openrtb.request import BidRequest
from tests.builders import banner_request

KEYS = UserKeys(b"identity-test-secret-0123456789")


def request(user: dict[str, Any] | None, device: dict[str, Any] | None) -> BidRequest:
    body = banner_request()
    body.pop("user", None)
    body.pop("device", None)
    if user is not None:
        body["user"] = user
    if device is not None:
        body["device"] = device
    return BidRequest.model_validate(body)


@pytest.mark.parametrize(
    ("user", "device", "same_as"),
    [
        ({"id": "u1", "buyeruid": "b1"}, {"ifa": "f1"}, {"id": "u1"}),
        ({"buyeruid": "b1"}, {"ifa": "f1"}, {"buyeruid": "b1"}),
        (None, {"ifa": "f1", "ip": "1.2.3.4", "ua": "UA"}, {"ifa": "f1"}),
    ],
)
def test_the_first_identifier_present_decides(
    user: dict[str, Any] | None, device: dict[str, Any] | None, same_as: dict[str, Any]
) -> None:
    key = KEYS.of(request(user, device))
    only = request(same_as, None) if "ifa" not in same_as else request(None, same_as)
    assert key is not None
    assert key == KEYS.of(only)


def test_ip_and_user_agent_together_are_the_last_resort() -> None:
    both = KEYS.of(request(None, {"ip": "1.2.3.4", "ua": "UA"}))
    other_ua = KEYS.of(request(None, {"ip": "1.2.3.4", "ua": "UB"}))
    assert both is not None
    assert both != other_ua
    assert KEYS.of(request(None, {"ip": "1.2.3.4"})) is None
    assert KEYS.of(request(None, None)) is None


def test_the_key_depends_on_the_secret_and_is_no_bare_hash_of_the_id() -> None:
    req = request({"id": "alice"}, None)
    key = KEYS.of(req)
    assert key is not None
    assert len(key) == 16
    assert "alice" not in key
    assert key != UserKeys(b"another-secret-0123456789abcdef").of(req)
    assert key != hashlib.blake2b(b"alice", digest_size=8, person=b"rtb-user-key").hexdigest()
    assert key != hashlib.sha256(b"alice").hexdigest()[:16]
    assert key == UserKeys(b"identity-test-secret-0123456789").of(req)  # stable across processes


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        UserKeys(b"short")
