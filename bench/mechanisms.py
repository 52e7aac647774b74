"""Timings of the page mechanisms (VCG) on random, realistic pages.

Realistic: prices log-normal around $2 CPM, qualities 0.5–2.0, slot ctrs falling down the
page, floors around $0.50, and about 30 % of bids sharing a seat or an advertiser domain with
another bid of the page (a seat bidding on several slots, one advertiser through two seats).
"""

import random
import statistics
import timeit
from collections.abc import Callable

from auction.types import Candidate, ImpTerms
from auction.vcg import run_vcg

__all__ = ["random_page", "vcg_timings"]

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
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


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


if __name__ == "__main__":
    for label, median, p99 in vcg_timings():
        print(f"{label:28} median {median:8.1f} µs   p99 {p99:8.1f} µs")
