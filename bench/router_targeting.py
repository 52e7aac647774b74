"""Timings of campaign narrowing: the index against a full scan, for 10, 100 and 1,000 campaigns.

Realistic campaigns: creatives in one to three of eight common sizes; about 60 % target a
few of 20 countries, 40 % a subset of device types, 30 % an OS, 20 % block a few domains,
15 % run on weekday dayparts in one of four time zones. Requests vary country, device, OS,
domain and size. The figure per row is one impression: the index lookup plus the full
targeting check on its survivors (``CampaignIndex.candidates``), or ``scan`` of every
campaign; facts extraction (once per impression, shared by all campaigns) has its own row.
"""

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.section import median_p99
from bidding.campaigns import Campaign, Creative
from bidding.index import CampaignIndex, scan
from bidding.targeting import ALL_HOURS, ListRule, RequestFacts, Targeting, hours_mask
from openrtb.request import BidRequest

__all__ = ["random_campaigns", "random_requests", "targeting_timings"]

SIZES = [
    (300, 250),
    (728, 90),
    (320, 50),
    (300, 600),
    (160, 600),
    (970, 250),
    (320, 100),
    (336, 280),
]
COUNTRIES = ["USA", "CAN", "GBR", "DEU", "FRA", "ESP", "ITA", "NLD", "SWE", "POL",
             "BRA", "MEX", "ARG", "JPN", "KOR", "IND", "AUS", "NZL", "ZAF", "TUR"]  # fmt: skip
OSES = ["iOS", "Android", "Windows", "macOS", "Linux"]
DOMAINS = [f"site{i}.example" for i in range(50)]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
NOW_S = 1_736_942_400  # 2025-01-15 12:00 UTC


def _targeting(rng: random.Random, zone: str) -> Targeting:
    rules: dict[str, ListRule] = {}
    if rng.random() < 0.6:
        rules["country"] = ListRule.of(rng.sample(COUNTRIES, rng.randint(1, 3)))
    if rng.random() < 0.4:
        rules["device_type"] = ListRule.of(rng.sample([1, 2, 4, 5], rng.randint(1, 2)))
    if rng.random() < 0.3:
        rules["os"] = ListRule.of(rng.sample(OSES, rng.randint(1, 2)))
    if rng.random() < 0.2:
        rules["domain"] = ListRule.of(block=rng.sample(DOMAINS, 3))
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    hours = hours_mask(weekdays, 7, 22) if rng.random() < 0.15 else ALL_HOURS
    return Targeting.build(rules, time_zone=zone, hours=hours)


def random_campaigns(n: int, seed: int = 5) -> list[Campaign]:
    """``n`` campaigns with the mix of targeting described in the module docstring."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        zone = rng.choice(ZONES)
        sizes = rng.sample(SIZES, rng.randint(1, 3))
        creatives = tuple(
            Creative(f"c{i}-{w}x{h}", w, h, "<img>", (f"adv{i}.example",), ("IAB1",))
            for w, h in sizes
        )
        targeting = _targeting(rng, zone)
        cid = f"c{i}"
        out.append(Campaign(cid, cid, cid, 1_000_000, 10**8, zone, creatives, targeting=targeting))
    return out


def random_requests(n: int, seed: int = 9) -> list[BidRequest]:
    """``n`` single-imp banner requests of varied geo, device, OS, domain and size."""
    rng = random.Random(seed)
    requests = []
    for i in range(n):
        w, h = rng.choice(SIZES)
        body: dict[str, Any] = {
            "id": f"r{i}",
            "imp": [{"id": "1", "bidfloor": 0.5, "banner": {"w": w, "h": h}}],
            "site": {"domain": rng.choice(DOMAINS), "cat": ["IAB12"]},
            "device": {
                "devicetype": rng.choice([1, 2, 4, 5]),
                "os": rng.choice(OSES),
                "geo": {"country": rng.choice(COUNTRIES)},
            },
            "user": {"id": f"u{i}"},
        }
        requests.append(BidRequest.model_validate(body))
    return requests


def _time(call: Callable[[int], object], count: int, repeat: int) -> tuple[float, float]:
    """Median and p99 of ``call(i)`` in µs over ``repeat`` calls cycling through ``count``."""
    for i in range(min(repeat, 200)):
        call(i % count)  # warm-up: caches (zone lookups), branch predictors
    samples = []
    for i in range(repeat):
        start = time.perf_counter_ns()
        call(i % count)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return median_p99(samples)


def targeting_timings(repeat: int = 3_000) -> list[tuple[str, float, float]]:
    """``(label, median µs, p99 µs)``: facts per imp, then index and full scan per size."""
    requests = random_requests(500)
    facts = [RequestFacts.of(r, r.imp[0], NOW_S) for r in requests]

    def extract(i: int) -> object:
        return RequestFacts.of(requests[i], requests[i].imp[0], NOW_S)

    rows = [("facts of one imp", *_time(extract, len(requests), repeat))]
    for n in (10, 100, 1_000):
        campaigns = random_campaigns(n)
        index = CampaignIndex(campaigns)
        narrowed = statistics.mean(len(index.narrow(f)) for f in facts)
        matched = statistics.mean(len(index.candidates(f)) for f in facts)
        label = f"{n} campaigns → {narrowed:.1f} narrowed → {matched:.1f} candidates"
        rows.append((f"index {label}", *_time(_indexed(index, facts), len(facts), repeat)))
        full = _time(_scanned(campaigns, facts), len(facts), repeat // 3)
        rows.append((f"full scan {n} campaigns", *full))
    return rows


def _indexed(index: CampaignIndex, facts: list[RequestFacts]) -> Callable[[int], object]:
    return lambda i: index.candidates(facts[i])


def _scanned(campaigns: list[Campaign], facts: list[RequestFacts]) -> Callable[[int], object]:
    return lambda i: scan(campaigns, facts[i])


if __name__ == "__main__":
    for label, median, p99 in targeting_timings():
        print(f"{label:<60} median {median:8.1f} µs   p99 {p99:8.1f} µs")
