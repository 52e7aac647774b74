"""The door of the auction: which SSP account a bid request comes from, and whether it may
come in now.

In order, before the body is read: the client address's rate (so a flood of bad keys is
slowed too), the key (401 without a known one), the account's state (403 disabled), the
account's rate (429); once the request is parsed, its publisher (403 when the account may
not sell it). Rates are counted by a ``fraud.rates.RateWatch`` over the counter store:
every process counts in memory and adds its counts to the fleet's a few times a second,
so a client is held to its rate across processes within one flush interval.
"""

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from exchange.accounts import Account, AccountBook
from fraud.rates import RateLimits, RateWatch, WindowStore
from openrtb.request import BidRequest

_ACCOUNT_KIND: Final = "account:"
KEY_FIELD: Final = "x-api-key"
NO_KEY: Final = "an API key is required (header x-api-key, or Authorization: Bearer)"
UNKNOWN_KEY: Final = "unknown API key"


@dataclass(eq=False)
class Refused(Exception):
    """A bid request the gate turns away."""

    status: int
    field: str
    message: str
    reason: str
    """The metric label: ``no_key``, ``unknown_key``, ``account_disabled``,
    ``publisher_not_allowed``, ``rate_limited_ip``, ``rate_limited_account``."""
    retry_after_s: int | None = None


class Gate:
    """Admits bid requests by key and rate."""

    def __init__(
        self,
        book: AccountBook | None,
        *,
        per_ip_qps: int = 0,
        window_s: int = 1,
        secret: bytes = b"",
        prefix: str = "rtb:",
        store: WindowStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._book = book
        self._window_s = window_s
        limits = {"ip": per_ip_qps * window_s} if per_ip_qps > 0 else {}
        if book is not None:
            limits.update(
                {
                    _ACCOUNT_KIND + account.id: account.rate_limit_qps * window_s
                    for account in book.accounts.values()
                    if account.rate_limit_qps is not None
                }
            )
        self.rates: RateWatch | None = (
            RateWatch(
                RateLimits(window_s, limits),
                hmac.digest(secret, b"rate-limit-subjects", "sha256"),
                prefix=prefix,
                namespace="rl",
                store=store,
                clock=clock,
            )
            if limits
            else None
        )
        """The counts to flush (None: no rate is limited)."""

    @property
    def mode(self) -> Literal["open", "keys"]:
        """``keys`` when a request needs an account's key."""
        return "open" if self._book is None else "keys"

    @property
    def accounts(self) -> int:
        """How many accounts the gate knows."""
        return len(self._book) if self._book is not None else 0

    def admit(self, key: str | None, client: str | None) -> Account | None:
        """The account of a request presenting ``key`` from address ``client``; None in
        ``open`` mode. Raises Refused."""
        rates = self.rates
        if rates is not None and client:
            count = rates.take("ip", client)  # None too when addresses are not limited
            if count is not None:
                raise self._limited("client", "this address", count, "rate_limited_ip")
        book = self._book
        if book is None:
            return None
        if not key:
            raise Refused(401, KEY_FIELD, NO_KEY, "no_key")
        account = book.by_key(key)
        if account is None:
            raise Refused(401, KEY_FIELD, UNKNOWN_KEY, "unknown_key")
        if not account.enabled:
            raise Refused(403, KEY_FIELD, f"account {account.id} is disabled", "account_disabled")
        if rates is not None and account.rate_limit_qps is not None:
            count = rates.take(_ACCOUNT_KIND + account.id, account.id)
            if count is not None:
                raise self._limited(
                    "account", f"account {account.id}", count, "rate_limited_account"
                )
        return account

    def check(self, account: Account | None, request: BidRequest) -> None:
        """Raises Refused when ``account`` may not sell what ``request`` offers."""
        if account is None:
            return
        refusal = account.publisher_refusal(request)
        if refusal is not None:
            raise Refused(403, refusal[0], refusal[1], "publisher_not_allowed")

    def _limited(self, field: str, who: str, count: int, reason: str) -> Refused:
        return Refused(
            429,
            field,
            f"{who} is over its request rate (~{count} in the last {self._window_s} s)",
            reason,
            retry_after_s=self._window_s,
        )
