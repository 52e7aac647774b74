"""The in-process router's parts, timed: candidate narrowing (targeting index vs full scan)
and model scoring (features + one batched CTR and one CVR predict) for 10, 100 and 1,000
campaigns. Target (issue 5): the router's decision under 2 ms p99 for 100 campaigns — the
router does not yet combine these parts per request, so they are reported separately."""

from bench.router_models import model_timings
from bench.router_targeting import targeting_timings
from bench.section import Options, Report, progress, timing_report

__all__ = ["run"]


def run(options: Options) -> Report:
    """The ``router`` section of ``python -m bench`` (CPU-bound; ignores the load options)."""
    progress("router: targeting index")
    rows = targeting_timings()
    progress("router: models")
    rows += model_timings()
    return timing_report(
        "in-process router parts",
        "router decision < 2,000 µs p99 for 100 campaigns",
        "step",
        "impression",
        rows,
    )
