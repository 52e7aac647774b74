"""Auction mechanisms as pure functions over plain data: no I/O of any kind.

Per impression, ``run_imp`` applies seat and deal rules and runs first or second price;
``run_page`` sells several impressions together by VCG. ``terms_for`` turns an OpenRTB
impression into the ImpTerms the mechanisms use.
"""

from auction.currency import CurrencyRates, UnknownCurrency
from auction.first_price import run_first_price
from auction.floors import FloorRule, effective_floor
from auction.gsp import run_gsp
from auction.mechanism import run_imp
from auction.page import page_slots, run_page
from auction.second_price import run_second_price
from auction.terms import terms_for
from auction.tiebreak import tiebreak_key
from auction.types import (
    QUALITY_ONE,
    AuctionRules,
    Candidate,
    DealTerms,
    ImpOutcome,
    ImpTerms,
    Loss,
)
from auction.vcg import run_vcg

__all__ = [
    "QUALITY_ONE",
    "AuctionRules",
    "Candidate",
    "CurrencyRates",
    "DealTerms",
    "FloorRule",
    "ImpOutcome",
    "ImpTerms",
    "Loss",
    "UnknownCurrency",
    "effective_floor",
    "page_slots",
    "run_first_price",
    "run_gsp",
    "run_imp",
    "run_page",
    "run_second_price",
    "run_vcg",
    "terms_for",
    "tiebreak_key",
]
