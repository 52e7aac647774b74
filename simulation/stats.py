"""What the simulation counts while the day runs: per campaign, per hour, per tick.

Spend is counted from what the billing notices actually charged (``NoticeOutcome``), in
integer micros, into the campaign's 15-minute slots of its own day; the final delivery is
read back from the store (the authority) and the two must agree.
"""

from dataclasses import dataclass, field

from auction.types import ImpOutcome
from budget.pacing_plan import SLOT_S, DayPlan

HOUR_S = 3600


@dataclass(slots=True)
class CampaignTally:
    """One campaign's day."""

    day_start_s: float
    day_end_s: float
    bids: int = 0
    wins: int = 0
    impressions: int = 0
    spend_micros: int = 0
    clicks: int = 0
    uncharged: int = 0
    """Won impressions whose notice charged nothing (settlement refused: never expected)."""
    slot_spend: list[int] = field(default_factory=list)
    signals: list[tuple[float, float, float]] = field(default_factory=list)
    """(time, multiplier, participation) at each pacing tick within the day."""
    plan: DayPlan | None = None

    def __post_init__(self) -> None:
        self.slot_spend = [0] * round((self.day_end_s - self.day_start_s) / SLOT_S)

    def slot(self, now_s: float) -> int | None:
        """The index of the day's 15-minute slot containing ``now_s`` (None outside it)."""
        if not self.day_start_s <= now_s < self.day_end_s:
            return None
        return int((now_s - self.day_start_s) // SLOT_S)


@dataclass(slots=True)
class HourTally:
    """The exchange's figures for one hour of the simulated span."""

    requests: int = 0
    imps: int = 0
    filled: int = 0
    """Imps sold (to a campaign or to the market)."""
    campaign_bids: int = 0
    campaign_wins: int = 0
    market_wins: int = 0
    spend_micros: int = 0
    impressions: int = 0
    clicks: int = 0


class DayStats:
    """Accumulates the run's figures."""

    def __init__(self, start_s: float, end_s: float, days: dict[str, tuple[float, float]]) -> None:
        self.start_s = start_s
        self.end_s = end_s
        self.hours = [HourTally() for _ in range(int((end_s - start_s) // HOUR_S) + 1)]
        self.campaigns = {cid: CampaignTally(start, end) for cid, (start, end) in days.items()}
        self.events = 0

    def hour(self, now_s: float) -> HourTally:
        """The tally of the hour containing ``now_s``."""
        index = int((now_s - self.start_s) // HOUR_S)
        return self.hours[max(0, min(index, len(self.hours) - 1))]

    def auction(self, now_s: float, imps: int, outcomes: tuple[ImpOutcome, ...]) -> None:
        """Bids and wins of one auction of ``imps`` imps (campaign seats are campaign ids)."""
        hour = self.hour(now_s)
        hour.requests += 1
        hour.imps += imps
        campaigns = self.campaigns
        for outcome in outcomes:
            winner = outcome.winner
            for loss in outcome.losses:
                tally = campaigns.get(loss.candidate.seat)
                if tally is not None:
                    tally.bids += 1
                    hour.campaign_bids += 1
            if winner is None:
                continue
            hour.filled += 1
            tally = campaigns.get(winner.seat)
            if tally is None:
                hour.market_wins += 1
                continue
            tally.bids += 1
            tally.wins += 1
            hour.campaign_bids += 1
            hour.campaign_wins += 1

    def billed(self, now_s: float, campaign_id: str, charged_micros: int, clicked: bool) -> None:
        """One won impression's billing notice and whether it was clicked."""
        tally = self.campaigns[campaign_id]
        hour = self.hour(now_s)
        if charged_micros <= 0:
            tally.uncharged += 1
            return
        tally.impressions += 1
        tally.spend_micros += charged_micros
        hour.impressions += 1
        hour.spend_micros += charged_micros
        slot = tally.slot(now_s)
        if slot is not None:
            tally.slot_spend[slot] += charged_micros
        if clicked:
            tally.clicks += 1
            hour.clicks += 1

    def signal(self, now_s: float, campaign_id: str, multiplier: float, share: float) -> None:
        """The pacing advice of a campaign at a tick (kept within its day)."""
        tally = self.campaigns[campaign_id]
        if tally.slot(now_s) is not None:
            tally.signals.append((now_s, multiplier, share))
