"""The in-process router, timed for 10, 100 and 1,000 campaigns: its whole decision per
request (``CampaignRouter.request_bids``: targeting, creative choice, features plus one
batched CTR and one CVR predict, bid formula, budget holds), then its parts — candidate
narrowing (targeting index vs full scan) and model scoring alone — and the small-array
steps by both their paths, plain Python and numpy (``bench.router_paths``), which justify
where each switches. Target (issue 11): the whole decision ≤ 1 ms p99 for 100 campaigns,
≤ 4 ms p99 for 1,000."""

from dataclasses import replace

from bench.router_decision import decision_timings
from bench.router_models import model_timings
from bench.router_paths import path_table, path_timings
from bench.router_targeting import targeting_timings
from bench.section import Options, Report, progress, timing_report

__all__ = ["run"]


def run(options: Options) -> Report:
    """The ``router`` section of ``python -m bench`` (CPU-bound; ignores the load options)."""
    progress("router: whole decision")
    rows = decision_timings()
    progress("router: targeting index")
    rows += targeting_timings()
    progress("router: models")
    rows += model_timings()
    progress("router: small-array paths")
    paths = path_table(path_timings())
    report = timing_report(
        "in-process router: whole decision and parts",
        "router decision ≤ 1,000 µs p99 for 100 campaigns, ≤ 4,000 µs for 1,000",
        "step",
        "impression",
        rows,
    )
    return replace(report, tables=[*report.tables, paths])
