"""The day simulation's auction logs and its comparison of the strategy with Lin."""

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simulation.config import SimConfig
from simulation.engine import SimResult, simulate
from simulation.report import write_report
from simulation.versus import pooled, versus
from simulation.wiring import INCREMENT_MICROS


@pytest.fixture(scope="module")
def day() -> SimResult:
    config = SimConfig(requests=5000, campaigns=6, tick_s=60.0, seed=11, progress=False)
    return asyncio.run(simulate(config))


def test_each_log_holds_every_auction_its_campaign_bid_in(day: SimResult) -> None:
    assert set(day.logs) == set(day.campaigns)  # every simulated campaign is value-based
    for cid, log in day.logs.items():
        tally = day.stats.campaigns[cid]
        bid = log.columns["bid_cpm_micros"]
        won = log.columns["won"]
        assert int((bid > 0).sum()) == tally.bids, cid
        assert int(won.sum()) == tally.wins == tally.impressions, cid
        assert len(log) >= tally.bids  # and the auctions it was a candidate for, not bidding
        assert int(log.click[won].sum()) == tally.clicks, cid  # the simulation's own clicks
        # The logged price is the best other bid (or the floor) plus the increment: a won
        # bid beat it, a lost one did not, and the second price the notices charged is it.
        price = log.price_cpm_micros
        assert (bid[won] > price[won] - INCREMENT_MICROS).all(), cid
        lost = (bid > 0) & ~won
        assert (bid[lost] <= price[lost] - INCREMENT_MICROS).all(), cid
        charged = np.minimum(bid[won], price[won]) // 1000
        assert int(charged.sum()) == day.final_spend[cid], cid
        assert log.pctr is not None
        assert (log.pctr == day.campaigns[cid].historical_ctr).all()
        true_ctr = log.columns["true_ctr"]
        assert ((true_ctr > 0) & (true_ctr < 0.05)).all()
        before = day.yesterday_logs[cid]
        assert len(before) > 0
        assert not before.columns["won"].any()  # yesterday every campaign was kept out
    assert sum(len(log) for log in day.logs.values()) > sum(
        t.bids for t in day.stats.campaigns.values()
    )


def test_lin_and_the_replay_keep_within_each_budget(day: SimResult) -> None:
    rows = versus(day)
    assert [v.id for v in rows] == sorted(day.logs)
    for v in rows:
        log = day.logs[v.id]
        tally = day.stats.campaigns[v.id]
        assert v.budget_micros == day.campaigns[v.id].daily_budget_micros
        assert v.rows == len(log)
        assert v.own.spent_micros == day.final_spend[v.id]
        assert v.own.impressions == tally.impressions
        assert v.own.clicks == tally.clicks
        won = log.columns["won"]
        assert v.own.expected_clicks == pytest.approx(float(log.columns["true_ctr"][won].sum()))
        assert v.own_replay is not None
        for bought in (v.own_replay, v.lin, v.lin_hindsight):
            assert 0 < bought.spent_micros <= v.budget_micros, v.id
            assert 0 < bought.expected_clicks <= bought.impressions
        # One pCTR per campaign: Lin maximises impressions, the hindsight b0 on today's log.
        assert v.lin_hindsight.impressions >= v.lin.impressions, v.id
        assert v.ratio == pytest.approx(v.own.expected_clicks / v.lin.expected_clicks)
    pool = pooled(rows)
    assert pool is not None
    kept = [v for v in rows if v.deliverable]
    assert pool.campaigns == len(kept)
    assert pool.own.spent_micros == sum(v.own.spent_micros for v in kept)
    assert pool.lin.expected_clicks == pytest.approx(sum(v.lin.expected_clicks for v in kept))
    assert pool.lin.spent_micros <= pool.budget_micros


def test_lin_is_tuned_on_yesterday_never_on_today(day: SimResult) -> None:
    """Today's prices doubled: Lin's b0 stays what yesterday chose; the hindsight one moves."""
    dearer = {
        cid: replace(log, price_cpm_micros=2 * log.price_cpm_micros)
        for cid, log in day.logs.items()
    }
    before, after = (
        versus(day, own_replay=False),
        versus(replace(day, logs=dearer), own_replay=False),
    )
    assert [v.lin_label for v in after] == [v.lin_label for v in before]
    assert [v.lin.spent_micros for v in after] != [v.lin.spent_micros for v in before]


def test_the_report_shows_the_strategy_against_lin(day: SimResult, tmp_path: Path) -> None:
    text = write_report(day, tmp_path, "rtb simulate --requests 5000")
    pool = pooled(versus(day))
    assert pool is not None
    line = next(line for line in text.splitlines() if line.startswith("own strategy vs Lin"))
    assert f"expected clicks {pool.own.expected_clicks:,.1f} vs" in line
    assert f"(×{pool.ratio:.3f})" in line
    report = (tmp_path / "report.md").read_text()
    assert "## The strategy against Lin on the same traffic" in report
    table = report.split("## The strategy against Lin on the same traffic")[1]
    assert f"**pooled, {pool.campaigns} deliverable**" in table
    for cid in day.logs:
        assert f"\n| {cid}" in table
