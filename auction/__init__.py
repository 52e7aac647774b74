"""Auction mechanisms as pure functions over plain data: no I/O of any kind."""

from auction.second_price import run_second_price
from auction.tiebreak import tiebreak_key
from auction.types import QUALITY_ONE, Candidate, ImpOutcome, Loss

__all__ = [
    "QUALITY_ONE",
    "Candidate",
    "ImpOutcome",
    "Loss",
    "run_second_price",
    "tiebreak_key",
]
