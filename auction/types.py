"""Plain data the auction mechanisms work on: candidates in, outcomes out.

All prices are CPMs in integer micros of the exchange currency. Quality scores are
integers in parts per million (1_000_000 = quality 1.0) so that every comparison and
every clearing price is exact integer arithmetic.
"""

from dataclasses import dataclass
from typing import Final

QUALITY_ONE: Final = 1_000_000
"""Quality score 1.0 in parts per million."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One bid competing for one impression."""

    bid_id: str
    seat: str
    price_micros: int
    quality_ppm: int = QUALITY_ONE

    @property
    def adjusted(self) -> int:
        """Rank score: bid × quality, exact (micros × ppm)."""
        return self.price_micros * self.quality_ppm


@dataclass(frozen=True, slots=True)
class Loss:
    """A candidate that did not win, why (OpenRTB loss reason code), and what would have won."""

    candidate: Candidate
    reason: int
    min_to_win_micros: int


@dataclass(frozen=True, slots=True)
class ImpOutcome:
    """The result of the auction for one impression."""

    imp_id: str
    winner: Candidate | None
    clearing_price_micros: int
    losses: tuple[Loss, ...]
