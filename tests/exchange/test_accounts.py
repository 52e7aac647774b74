"""SSP accounts: the file (every problem at once), keys found by digest, the publisher
allow-list, the privacy rules an account forces, and the gate's order of checks and rates
shared through the counter store."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from budget.store import CounterStore
from exchange.accounts import (
    AccountBook,
    AccountSetting,
    AccountsFileError,
    key_digest,
    new_key,
)
from exchange.gate import Gate, Refused
from fraud.verdict import Action, Check
from openrtb.request import BidRequest

KEY = "rtbk_test-key-of-ssp-a-0123456789abcdefghijklmno"
OTHER_KEY = "rtbk_test-key-of-ssp-b-0123456789abcdefghijklmno"


class Clock:
    def __init__(self, now: float = 6_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _account(**changes: Any) -> dict[str, Any]:
    account: dict[str, Any] = {"id": "ssp-a", "key_digests": [key_digest(KEY)]}
    account.update(changes)
    return account


def _book(*accounts: dict[str, Any]) -> AccountBook:
    return AccountBook.parse(orjson.dumps({"accounts": list(accounts)}), "accounts.json")


def _request(**changes: Any) -> BidRequest:
    body: dict[str, Any] = {
        "id": "r1",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "publisher": {"id": "pub-1"}},
        "user": {"id": "u1"},
    }
    body.update(changes)
    return BidRequest.model_validate(body)


def test_new_keys_are_random_and_only_their_digest_is_kept() -> None:
    first, second = new_key(), new_key()
    assert first != second
    assert first.startswith("rtbk_")
    assert len(first) > 40
    digest = key_digest(first)
    assert digest.startswith("sha256:")
    assert first not in digest
    book = AccountBook([AccountSetting(id="a", key_digests=[digest])])
    found = book.by_key(first)
    assert found is not None
    assert found.id == "a"
    assert book.by_key(second) is None
    assert book.by_key(digest) is None  # the digest itself is no key


def test_a_bad_file_reports_every_problem_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_bytes(
        orjson.dumps(
            {
                "accounts": [
                    {"id": "ok", "key_digests": ["sha256:" + "0" * 63]},
                    {"id": "bad id!", "key_digests": []},
                    {"id": "x", "key_digests": [key_digest(KEY)], "rate_limit_qps": 0},
                    {"id": "y", "key_digests": [key_digest(KEY)], "screening": {"nope": "flag"}},
                ]
            }
        )
    )
    with pytest.raises(AccountsFileError) as caught:
        AccountBook.load(path)
    problems = caught.value.problems
    assert any("accounts[0].key_digests[0]" in p for p in problems)
    assert any("accounts[1].id" in p for p in problems)
    assert any("accounts[1].key_digests" in p for p in problems)
    assert any("accounts[2].rate_limit_qps" in p for p in problems)
    assert any("accounts[3].screening.nope" in p for p in problems)
    assert all(p.startswith(str(path)) for p in problems)


def test_ids_and_keys_belong_to_one_account() -> None:
    with pytest.raises(AccountsFileError, match="ids must be unique"):
        _book(_account(), _account(key_digests=[key_digest(OTHER_KEY)]))
    with pytest.raises(AccountsFileError, match="one account only"):
        _book(_account(), _account(id="ssp-b"))


def test_unreadable_and_junk_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(AccountsFileError, match="cannot read"):
        AccountBook.load(tmp_path / "missing.json")
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"{not json")
    with pytest.raises(AccountsFileError, match="not valid JSON"):
        AccountBook.load(junk)


def test_the_publisher_allow_list_names_the_field() -> None:
    account = _book(_account(publishers=["pub-1"])).accounts["ssp-a"]
    assert account.publisher_refusal(_request()) is None
    field, why = account.publisher_refusal(
        _request(site={"id": "s", "publisher": {"id": "pub-9"}})
    ) or ("", "")
    assert field == "site.publisher.id"
    assert "pub-9" in why
    app_request = _request(site=None, app={"id": "a1", "publisher": {"id": "pub-2"}})
    assert account.publisher_refusal(app_request) == (
        "app.publisher.id",
        "publisher 'pub-2' is not sold by account ssp-a",
    )
    nameless = account.publisher_refusal(_request(site={"id": "s"}))
    assert nameless is not None
    assert nameless[0] == "site.publisher.id"
    anyone = _book(_account()).accounts["ssp-a"]
    assert anyone.publisher_refusal(_request(site={"id": "s"})) is None


def test_an_account_forces_its_privacy_rules() -> None:
    account = _book(_account(privacy={"coppa": True, "gdpr_when_unknown": True})).accounts["ssp-a"]
    forced = account.applied_to(_request())
    assert forced.regs is not None
    assert (forced.regs.coppa, forced.regs.gdpr) == (1, 1)
    said_no_gdpr = account.applied_to(_request(regs={"gdpr": 0, "us_privacy": "1YNN"}))
    assert said_no_gdpr.regs is not None
    assert (said_no_gdpr.regs.coppa, said_no_gdpr.regs.gdpr) == (1, 0)  # a stated 0 stays
    assert said_no_gdpr.regs.us_privacy == "1YNN"
    plain = _book(_account()).accounts["ssp-a"]
    request = _request()
    assert plain.applied_to(request) is request


def test_an_accounts_floors_and_screening_are_in_exchange_units() -> None:
    account = _book(
        _account(
            floor_rules=[{"floor_cpm": "1.25", "media_type": "banner"}],
            screening={"datacenter": "flag", "seller": "off"},
        )
    ).accounts["ssp-a"]
    assert [rule.floor_micros for rule in account.floor_rules] == [1_250_000]
    assert account.screening == {Check.DATACENTER: Action.FLAG, Check.SELLER: Action.OFF}


def test_open_mode_admits_anyone() -> None:
    gate = Gate(None)
    assert gate.mode == "open"
    assert gate.admit(None, "192.0.2.1") is None
    gate.check(None, _request())


def test_keys_mode_refuses_in_order() -> None:
    gate = Gate(
        _book(
            _account(publishers=["pub-1"]),
            _account(id="ssp-off", enabled=False, key_digests=[key_digest(OTHER_KEY)]),
        )
    )
    assert gate.mode == "keys"
    assert gate.accounts == 2
    refusals = []
    for key in (None, "", "rtbk_wrong", OTHER_KEY):
        with pytest.raises(Refused) as caught:
            gate.admit(key, "192.0.2.1")
        refusals.append((caught.value.status, caught.value.reason))
    assert refusals == [
        (401, "no_key"),
        (401, "no_key"),
        (401, "unknown_key"),
        (403, "account_disabled"),
    ]
    account = gate.admit(KEY, "192.0.2.1")
    assert account is not None
    assert account.id == "ssp-a"
    gate.check(account, _request())
    with pytest.raises(Refused) as caught:
        gate.check(account, _request(site={"id": "s", "publisher": {"id": "pub-9"}}))
    assert (caught.value.status, caught.value.field) == (403, "site.publisher.id")


def test_an_account_over_its_rate_gets_429_with_retry_after() -> None:
    clock = Clock()
    gate = Gate(_book(_account(rate_limit_qps=3)), window_s=2, clock=clock)
    for _ in range(6):  # 3 a second over a 2 s window
        gate.admit(KEY, "192.0.2.1")
    with pytest.raises(Refused) as caught:
        gate.admit(KEY, "192.0.2.1")
    refused = caught.value
    assert (refused.status, refused.field, refused.reason) == (
        429,
        "account",
        "rate_limited_account",
    )
    assert refused.retry_after_s == 2
    clock.now += 4  # two windows on: the count has left the window
    assert gate.admit(KEY, "192.0.2.1") is not None


def test_the_address_rate_comes_before_the_key() -> None:
    """A flood of wrong keys from one address is slowed like any other."""
    gate = Gate(_book(_account()), per_ip_qps=2, window_s=1, clock=Clock())
    for _ in range(2):
        with pytest.raises(Refused, match="unknown API key"):
            gate.admit("rtbk_guess", "198.51.100.7")
    with pytest.raises(Refused) as caught:
        gate.admit(KEY, "198.51.100.7")
    assert (caught.value.status, caught.value.reason) == (429, "rate_limited_ip")
    assert gate.admit(KEY, "198.51.100.8") is not None  # another address has its own count


async def test_rates_add_up_across_processes_through_the_store(
    store: CounterStore, key_prefix: str
) -> None:
    """Two processes get 4 requests each of an account allowed 6 per window: neither alone
    is over, the fleet is once both have flushed."""
    clock = Clock()
    book = _book(_account(rate_limit_qps=1))
    gates = [
        Gate(book, window_s=6, secret=b"k" * 32, prefix=key_prefix, store=store, clock=clock)
        for _ in range(2)
    ]
    for gate in gates:
        for _ in range(4):
            gate.admit(KEY, "192.0.2.1")
    for gate in gates:
        assert gate.rates is not None
        await gate.rates.flush()
    with pytest.raises(Refused) as caught:
        gates[1].admit(KEY, "192.0.2.1")
    assert caught.value.status == 429


def test_a_client_over_its_rate_still_gets_its_rate_through() -> None:
    """Refused requests are not counted: an SSP sending twice its rate is capped, not cut."""
    clock = Clock()
    gate = Gate(_book(_account(rate_limit_qps=3)), window_s=1, clock=clock)
    admitted = 0
    for _ in range(10):
        try:
            gate.admit(KEY, "192.0.2.1")
            admitted += 1
        except Refused:
            pass
    assert admitted == 3
