"""Screening section: the traffic-quality screen's own CPU per request, in this process.

The serving section compares the exchange with the screen on and off, but its run-to-run
noise (5–10%, ~100 µs) is larger than the screen's budget (≤ 20 µs), so this section times
``fraud.screen.Screen.screen`` itself, built exactly as the lifespan builds it (default
actions, the shipped data-centre ranges, a sellers.json, rates counted per IP and device)
on the serving request parsed once. Each row: median and p99 over batches of calls, per
call. Requests rotate over 1,024 public IPs and device ids, so the rate check counts many
subjects as real traffic does. Run it alone with ``python -m bench --section screening``.
"""

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import orjson

from bench.payloads import banner_request
from bench.section import Options, Report, median_p99, progress, timing_report
from exchange.settings import Settings
from exchange.wiring import build_screen
from fraud.screen import Screen, with_flags
from fraud.user_agents import CrawlerList
from openrtb.codec import decode_request
from openrtb.request import BidRequest

__all__ = ["run"]

_SUBJECTS: Final = 1_024
_BATCH: Final = 1_000
_TARGET: Final = "≤ 20 µs per request (issue 13)"


def _requests(**device: object) -> list[BidRequest]:
    found = []
    for n in range(_SUBJECTS):
        body = banner_request()
        body["device"].update({"ip": f"81.2.{n // 256}.{n % 256}", "ifa": f"ifa-{n}"})
        body["device"].update(device)
        found.append(decode_request(orjson.dumps(body)))
    return found


def _time(
    call: Callable[[BidRequest], object], requests: list[BidRequest], batches: int
) -> tuple[float, float]:
    samples = []
    count = len(requests)
    for batch in range(batches):
        started = time.perf_counter_ns()
        for i in range(_BATCH):
            call(requests[(batch * _BATCH + i) % count])
        samples.append((time.perf_counter_ns() - started) / _BATCH / 1_000)
    return median_p99(samples)


def _screen_and_flag(screen: Screen) -> Callable[[BidRequest], object]:
    def call(request: BidRequest) -> object:
        return with_flags(request, screen.screen(request))

    return call


def run(options: Options) -> Report:
    """Time the screen on clean, flagged and blocked requests, and a user agent new to it."""
    batches = max(20, int(options.duration_s * 20))
    with tempfile.TemporaryDirectory(prefix="bench-screening-") as tmp:
        sellers = Path(tmp) / "sellers.json"
        sellers.write_bytes(
            orjson.dumps(
                {
                    "sellers": [
                        {
                            "seller_id": "pub-8953",
                            "seller_type": "PUBLISHER",
                            "domain": "example.com",
                        }
                    ]
                }
            )
        )
        screen, _ = build_screen(Settings(ivt_sellers_file=sellers))
    progress(f"screening: {batches} batches of {_BATCH} calls per row")
    cases = [
        ("clean request (all checks pass)", _requests()),
        ("flagged: private IP + no schain, ext.ivt added", _requests(ip="10.1.2.3")),
        (
            "blocked: known crawler (Googlebot)",
            _requests(
                ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
            ),
        ),
        ("blocked: data-centre IP (DigitalOcean)", _requests(ip="159.203.10.20")),
    ]
    cases[1][1][:] = [r.model_copy(update={"source": None}) for r in cases[1][1]]
    rows = []
    for label, requests in cases:
        median, p99 = _time(_screen_and_flag(screen), requests, batches)
        rows.append((label, median, p99))
    crawlers = CrawlerList(max_matches_per_s=1_000_000)  # unrationed: time the match itself
    fresh = [f"{banner_request()['device']['ua']} Edg/124.0.{n}" for n in range(_SUBJECTS)]
    started = time.perf_counter_ns()
    for ua in fresh:
        crawlers.crawler(ua)
    per_new_us = (time.perf_counter_ns() - started) / len(fresh) / 1_000
    rows.append(("crawler match of a never-seen user agent", per_new_us, per_new_us))
    report = timing_report("screening", _TARGET, "request", "request", rows)
    notes = [
        "A user agent the screen has not seen pays crawlerdetect's regex match once "
        "(the last row: one sample per agent); after that its verdict comes from the cache "
        "(65,536 agents). Matches are rationed to 200 a second, so a flood of new agents "
        "costs at most ~0.1 s of CPU a second.",
    ]
    return Report(report.title, report.context, report.tables, notes)
