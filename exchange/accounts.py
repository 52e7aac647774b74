"""SSP accounts: who may send bid requests, and on what terms.

An accounts file (``RTB_ACCOUNTS_FILE``, JSON) lists each SSP with the SHA-256 digests of its
API keys, the publishers it may sell, its own floors, privacy and screening settings, whether
it may ask for debug output, and its request rate. Keys are never stored: a key is 32 random
bytes (``new_key``), so a fast digest is enough to keep a leaked file from being a list of
working keys (a slow password hash would cost milliseconds a request; docs/decisions.md).

Loading lists every problem of the file at once (``AccountsFileError.problems``), as the
bidders file does, so ``rtb serve`` reports them together before it starts.
"""

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from auction.floors import FloorRule
from auction.terms import publisher_id
from exchange.config_file import parse_config_file
from exchange.settings import FloorRuleSetting, IvtAction
from fraud.verdict import Action, Check
from openrtb.request import BidRequest, Regs

KEY_PREFIX: Final = "rtbk_"
"""What every key made by ``new_key`` starts with (so a leaked one is easy to search for)."""
_DIGEST_PREFIX: Final = "sha256:"
DIGEST_PATTERN: Final = r"^sha256:[0-9a-f]{64}$"
ACCOUNT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def new_key() -> str:
    """A fresh API key: 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """What the accounts file stores of ``key``."""
    return _DIGEST_PREFIX + hashlib.sha256(key.encode()).hexdigest()


class PrivacySetting(BaseModel):
    """Privacy rules the exchange applies to every request of the account, whatever it
    says: for an SSP whose supply is child-directed, or whose requests come from the EEA
    without always saying so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coppa: bool = False
    """Treat every request as COPPA (``regs.coppa = 1``): no personal data to any bidder."""
    gdpr_when_unknown: bool = False
    """A request without ``regs.gdpr`` is treated as under the GDPR (``regs.gdpr = 1``), so
    without a consent string no bidder gets personal data."""


class AccountSetting(BaseModel):
    """One SSP account as the accounts file writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]
    name: str = ""
    enabled: bool = True
    """A disabled account's requests get 403 (its keys are still recognised)."""
    key_digests: Annotated[list[Annotated[str, Field(pattern=DIGEST_PATTERN)]], Field(min_length=1)]
    """``sha256:<hex>`` of each key (``rtb accounts key`` makes one); several let a key be
    rotated without downtime."""
    publishers: list[Annotated[str, Field(min_length=1)]] | None = None
    """The publisher ids (``site|app|dooh.publisher.id``) it may sell; None: any."""
    floor_rules: list[FloorRuleSetting] = []
    """Floors on top of the exchange's own (``RTB_FLOOR_RULES``), for its requests only."""
    privacy: PrivacySetting = PrivacySetting()
    screening: dict[Check, IvtAction] = {}
    """Traffic-quality actions that differ from the exchange's (``RTB_IVT_*``), by check."""
    debug: bool = False
    """May ask for debug output (``ext.debug``/``test``)."""
    rate_limit_qps: Annotated[int, Field(gt=0)] | None = None
    """Bid requests per second across every process; beyond it 429. None: unlimited."""
    dedup_window_s: Annotated[float, Field(gt=0, le=300)] | None = None
    """Answer no-bid (``duplicate_path``) to an impression (``source.tid`` and imp ids) seen
    within this many seconds by a path no longer (``supply.dedup``). None: off."""


class _AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountSetting]

    @model_validator(mode="after")
    def _unique(self) -> "_AccountsFile":
        ids = [account.id for account in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("account ids must be unique")
        digests = [d for account in self.accounts for d in account.key_digests]
        if len(set(digests)) != len(digests):
            raise ValueError("a key digest may belong to one account only")
        return self


@dataclass(frozen=True, slots=True)
class Account:
    """An SSP account as the exchange applies it."""

    id: str
    enabled: bool = True
    publishers: frozenset[str] | None = None
    floor_rules: tuple[FloorRule, ...] = ()
    privacy: PrivacySetting = field(default_factory=PrivacySetting)
    screening: Mapping[Check, Action] = field(default_factory=dict)
    debug: bool = False
    rate_limit_qps: int | None = None
    dedup_window_s: float | None = None

    @classmethod
    def of(cls, setting: AccountSetting) -> "Account":
        """The account a file entry describes."""
        return cls(
            id=setting.id,
            enabled=setting.enabled,
            publishers=frozenset(setting.publishers) if setting.publishers is not None else None,
            floor_rules=tuple(rule.rule() for rule in setting.floor_rules),
            privacy=setting.privacy,
            screening={check: Action(action) for check, action in setting.screening.items()},
            debug=setting.debug,
            rate_limit_qps=setting.rate_limit_qps,
            dedup_window_s=setting.dedup_window_s,
        )

    def publisher_refusal(self, request: BidRequest) -> tuple[str, str] | None:
        """(field, why) when the account may not sell the request's publisher, else None."""
        if self.publishers is None:
            return None
        where = "site" if request.site is not None else "app" if request.app is not None else "dooh"
        found = publisher_id(request)
        if found is None:
            return f"{where}.publisher.id", f"account {self.id} must name its publisher"
        if found not in self.publishers:
            return f"{where}.publisher.id", f"publisher {found!r} is not sold by account {self.id}"
        return None

    def applied_to(self, request: BidRequest) -> BidRequest:
        """``request`` under the account's privacy rules (unchanged when they change nothing)."""
        privacy = self.privacy
        regs = request.regs
        update: dict[str, object] = {}
        if privacy.coppa and (regs is None or regs.coppa != 1):
            update["coppa"] = 1
        if privacy.gdpr_when_unknown and (regs is None or regs.gdpr is None):
            update["gdpr"] = 1
        if not update:
            return request
        forced = regs.model_copy(update=update) if regs is not None else Regs.model_validate(update)
        return request.model_copy(update={"regs": forced})


class AccountsFileError(ValueError):
    """An accounts file with problems: every one found, one a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class AccountBook:
    """The accounts, found by the key a request presents."""

    def __init__(self, accounts: Iterable[AccountSetting]) -> None:
        settings = list(accounts)
        self.accounts: dict[str, Account] = {s.id: Account.of(s) for s in settings}
        self._by_digest = {
            digest: self.accounts[s.id] for s in settings for digest in s.key_digests
        }

    def __len__(self) -> int:
        return len(self.accounts)

    def by_key(self, key: str) -> Account | None:
        """The account whose key ``key`` is, else None. A dictionary lookup on the digest:
        no comparison of secrets that a response time could reveal."""
        return self._by_digest.get(key_digest(key))

    @classmethod
    def parse(cls, data: bytes, source: str) -> "AccountBook":
        """The accounts of a file's bytes; AccountsFileError lists every problem."""
        return cls(parse_config_file(_AccountsFile, data, source, AccountsFileError).accounts)

    @classmethod
    def load(cls, path: Path) -> "AccountBook":
        """The accounts file at ``path``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AccountsFileError([f"{path}: cannot read: {exc.strerror}"]) from exc
        return cls.parse(data, str(path))
