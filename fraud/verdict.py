"""What a traffic-quality check found, and what the exchange does about it.

Each check names one OpenRTB no-bid reason (OpenRTB 3.0 "List: No-Bid Reason Codes", which
2.6 refers to). Its configured action decides the consequence: ``block`` answers the
request with that reason before any bidder is called, ``flag`` passes the finding on to
every bidder in ``request.ext.ivt`` and lets the auction run, ``off`` skips the check.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openrtb.enums import NoBidReason


class Action(StrEnum):
    """What a check's finding does to the request."""

    BLOCK = "block"
    FLAG = "flag"
    OFF = "off"


class Check(StrEnum):
    """The checks, in the order they run (the first blocking finding ends the screen)."""

    CRAWLER = "crawler"
    DATACENTER = "datacenter"
    DEVICE = "device"
    SELLER = "seller"
    SCHAIN = "schain"
    RATE = "rate"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's finding: which check, the no-bid reason it stands for, and a short why."""

    check: Check
    reason: NoBidReason
    detail: str

    def as_json(self) -> dict[str, Any]:
        """The wire form (``request.ext.ivt.flags`` items, debug output)."""
        return {"check": self.check.value, "nbr": int(self.reason), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The screen's decision on one request."""

    blocked: Finding | None = None
    """The finding that refuses the request; None: it goes to auction."""
    flagged: tuple[Finding, ...] = ()
    """Findings of checks set to ``flag`` (passed on to bidders)."""

    def as_json(self) -> dict[str, Any]:
        """The decision for debug output."""
        return {
            "blocked": self.blocked.as_json() if self.blocked is not None else None,
            "flags": [finding.as_json() for finding in self.flagged],
        }


CLEAN = Verdict()
