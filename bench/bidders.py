"""The benchmarks' own bidders files: the same campaigns bid on every run, at any hour.

The demo campaigns (``bidding/demo_campaigns.json``) are gated by dayparting and by age, so
whether a benchmark of them scores any campaign with the models depends on the hour it
runs and on whether the request has ``user.yob``. The files here keep every bench run on
the same work:

* ``demo_like``: the demo campaigns as shipped, less their dayparting and age rules, with
  budgets no benchmark can spend (it never sends billing notices, so a winner's hold stays
  out for 15 minutes): the three fixed-price campaigns and both value-based ones (ROI and
  CPA goals, scored by the models) are candidates for the bench request at every hour;
* ``value_based``: one router of 100 value-based campaigns (ROI and CPA goals in turn), of
  which 10 fit the bench request; the other 90 are the kind an index must discard cheaply:
  other countries, sizes the request does not offer, phones and tablets only, other sites.

``expected_scored`` is how many candidates per request the models must score on
``bench.payloads``' request: the serving section fails when ``/metrics`` says fewer.
"""

import json
from importlib import resources
from pathlib import Path
from typing import Any, Final

__all__ = ["BIDDERS", "BenchBidders", "demo_like", "value_based"]

_UNSPENDABLE: Final = "1000000000"
"""A daily budget the benchmark cannot exhaust (holds of won bids are never settled)."""
_TIME_GATES: Final = ("dayparting", "age")


class BenchBidders:
    """A bidders file for the bench and what the bench request must get from it."""

    def __init__(self, key: str, spec: dict[str, Any], expected_scored: int) -> None:
        self.key = key
        self.spec = spec
        self.expected_scored = expected_scored
        """Value-based candidates the models score per bench request (from ``/metrics``)."""

    @property
    def campaigns(self) -> int:
        return sum(len(router["campaigns"]) for router in self.spec["routers"])

    def write(self, directory: Path) -> Path:
        """The file in ``directory``, for ``RTB_BIDDERS_FILE``."""
        path = directory / f"bidders-{self.key}.json"
        path.write_text(json.dumps(self.spec, indent=1))
        return path


def demo_like() -> BenchBidders:
    """The demo routers without the hour and age gates (see the module docstring)."""
    text = resources.files("bidding").joinpath("demo_campaigns.json").read_text()
    spec: dict[str, Any] = json.loads(text)
    value_based_count = 0
    for router in spec["routers"]:
        for campaign in router["campaigns"]:
            campaign["daily_budget"] = _UNSPENDABLE
            targeting = campaign.get("targeting") or {}
            for gate in _TIME_GATES:
                targeting.pop(gate, None)
            if "goal" in campaign:
                value_based_count += 1
    if value_based_count < 2:
        raise RuntimeError(f"the demo campaigns have {value_based_count} value-based ones, not 2+")
    return BenchBidders("demo-like", spec, value_based_count)


def _goal(index: int) -> dict[str, str]:
    if index % 2:
        return {"type": "cpa", "target_cpa": f"{6 + index % 5}.50"}
    return {"type": "roi", "conversion_value": f"{120 + 10 * (index % 7)}.00", "target_roi": "4"}


def _creative(cid: str, index: int, w: int, h: int) -> dict[str, Any]:
    return {
        "id": f"{cid}-{w}x{h}",
        "w": w,
        "h": h,
        "adm": f'<a href="${{RTB_CLICK_URL}}"><img src="https://{cid}.example/{w}x{h}.png"></a>',
        "adomain": [f"{cid}.example"],
        "cat": ["IAB2"] if index % 2 else ["IAB19"],
        "landing_url": f"https://{cid}.example/offer",
    }


_MISSES: Final = (
    ("country", {"country": {"allow": ["GBR", "DEU", "FRA", "ESP", "ITA"]}}, (300, 250)),
    ("size", {"country": {"allow": ["USA", "CAN"]}}, (728, 90)),
    ("device", {"device_type": {"allow": [4, 5]}}, (300, 250)),
    ("domain", {"domain": {"allow": ["sports.example", "recipes.example"]}}, (300, 600)),
)
"""Why each non-matching campaign misses the bench request, in turn."""


def value_based(campaigns: int = 100, matching: int = 10) -> BenchBidders:
    """One router of ``campaigns`` value-based campaigns; ``matching`` of them (spread
    evenly through the file) fit the bench request, the others miss it on one dimension."""
    every = campaigns // matching
    rows = []
    for index in range(campaigns):
        cid = f"vb-{index:03d}"
        if index % every == 0 and index // every < matching:
            targeting: dict[str, Any] = {"country": {"allow": ["USA"]}}
            sizes = [(300, 250), (300, 600)]
        else:
            _, targeting, size = _MISSES[index % len(_MISSES)]
            sizes = [size]
        rows.append(
            {
                "id": cid,
                "advertiser": f"Advertiser {index}",
                "seat": f"seat-{index % 20:02d}",
                "daily_budget": _UNSPENDABLE,
                "goal": _goal(index),
                "min_bid": "0.55",  # above the bench request's 0.50 floor: every match bids
                "max_bid": "5.00",
                "historical_ctr": 0.002,
                "historical_cvr": 0.02,
                "targeting": targeting,
                "creatives": [_creative(cid, index, w, h) for w, h in sizes],
            }
        )
    spec = {"routers": [{"name": "value-100", "campaigns": rows}]}
    return BenchBidders(f"value-{campaigns}", spec, matching)


BIDDERS: Final = {"demo-like": demo_like, "value-100": value_based}
"""The serving section's exchange rows, by key."""
