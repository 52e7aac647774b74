"""Timings of the auction mechanisms: one impression (second and first price) and pages (VCG).

Targets (issue 3): one impression with 100 bids under 50 µs; VCG 10 slots × 100 bids under
2 ms.

Realistic: prices log-normal around $2 CPM, qualities 0.5–2.0, slot ctrs falling down the
page, floors around $0.50, and about 30 % of bids sharing a seat or an advertiser domain with
another bid of the page (a seat bidding on several slots, one advertiser through two seats).
"""

import random
import timeit
from collections.abc import Callable

from auction.mechanism import run_imp
from auction.types import AuctionRules, Candidate, ImpTerms
from auction.vcg import run_vcg
from bench.section import Options, Report, median_p99, progress, timing_report

__all__ = ["imp_timings", "random_page", "run", "vcg_timings"]

Page = tuple[list[ImpTerms], dict[str, list[Candidate]]]


def random_page(rng: random.Random, n_slots: int, n_bids: int) -> Page:
    """A page of ``n_slots`` slots and ``n_bids`` bids spread over them."""
    slots = [
        ImpTerms(
            f"imp-{j}", rng.choice([0, 250_000, 500_000, 1_000_000]), ctr_ppm=1_000_000 // (j + 1)
        )
        for j in range(n_slots)
    ]
    shared_seats = [f"dsp-{k}" for k in range(max(1, n_bids // 20))]
    shared_domains = [f"brand-{k}.com" for k in range(max(1, n_bids // 20))]
    by_imp: dict[str, list[Candidate]] = {}
    for i in range(n_bids):
        share = rng.random()
        seat = rng.choice(shared_seats) if share < 0.15 else f"seat-{i}"
        adomain = rng.choice(shared_domains) if 0.15 <= share < 0.30 else f"adv-{i}.com"
        price = max(1, int(rng.lognormvariate(0.7, 0.6) * 1_000_000))
        quality = rng.randint(500_000, 2_000_000)
        slot = slots[rng.randrange(n_slots)].imp_id
        by_imp.setdefault(slot, []).append(Candidate(f"bid-{i}", seat, price, quality, adomain))
    return slots, by_imp


def _time(pages: list[Page], repeat: int) -> tuple[float, float]:
    """Median and p99 of one run_vcg call, in µs, cycling through ``pages``."""
    samples: list[float] = []
    for index in range(repeat):
        slots, by_imp = pages[index % len(pages)]
        call: Callable[[], object] = lambda: run_vcg(slots, by_imp, auction_id=f"a-{index}")  # noqa: E731, B023
        samples.append(timeit.timeit(call, number=1) * 1e6)
    return median_p99(samples)


def vcg_timings(repeat: int = 2_000, seed: int = 7) -> list[tuple[str, float, float]]:
    """``(label, median µs, p99 µs)`` of ``run_vcg`` for 5 slots × 50 bids and 10 × 100."""
    rng = random.Random(seed)
    rows: list[tuple[str, float, float]] = []
    for n_slots, n_bids in ((5, 50), (10, 100)):
        pages = [random_page(rng, n_slots, n_bids) for _ in range(200)]
        _time(pages, 200)  # warm-up: imports, caches
        median, p99 = _time(pages, repeat)
        rows.append((f"vcg {n_slots} slots × {n_bids} bids", median, p99))
    return rows


def _random_bids(rng: random.Random, n_bids: int) -> list[Candidate]:
    return [
        Candidate(
            f"bid-{i}",
            f"seat-{i}",
            max(1, int(rng.lognormvariate(0.7, 0.6) * 1_000_000)),
            rng.randint(500_000, 2_000_000),
            f"adv-{i}.com",
        )
        for i in range(n_bids)
    ]


def imp_timings(repeat: int = 5_000, seed: int = 11) -> list[tuple[str, float, float]]:
    """``(label, median µs, p99 µs)`` of ``run_imp`` (second and first price) for 10 and 100
    bids on one impression, floor 0.50, increment 0.01."""
    rng = random.Random(seed)
    terms = ImpTerms("imp-1", 500_000)
    rules = AuctionRules(increment_micros=10_000)
    rows: list[tuple[str, float, float]] = []
    for at, name in ((2, "second price"), (1, "first price")):
        for n_bids in (10, 100):
            lists = [_random_bids(rng, n_bids) for _ in range(100)]
            samples: list[float] = []
            for index in range(repeat + 500):
                bids = lists[index % len(lists)]
                started = timeit.default_timer()
                run_imp(terms, bids, at=at, rules=rules, auction_id=f"a-{index}")
                if index >= 500:  # the first ones warm caches up
                    samples.append((timeit.default_timer() - started) * 1e6)
            median, p99 = median_p99(samples)
            rows.append((f"{name}, 1 imp × {n_bids} bids", median, p99))
    return rows


def run(options: Options) -> Report:
    """The mechanisms section of ``python -m bench`` (CPU-bound, ignores the load options)."""
    progress("mechanisms: one impression")
    rows = imp_timings()
    progress("mechanisms: VCG pages")
    rows += vcg_timings()
    return timing_report(
        "auction mechanisms",
        "1 imp × 100 bids < 50 µs; VCG 10 slots × 100 bids < 2,000 µs",
        "mechanism",
        "auction",
        rows,
    )


if __name__ == "__main__":
    print(run(Options()).render())
