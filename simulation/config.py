"""The settings of one simulation run."""

from dataclasses import dataclass, field
from typing import Literal

from bidding.canary import CanaryFile
from budget.pacing import PacingConfig
from budget.pacing_control import ControllerConfig

PacingMode = Literal["shaped", "even", "off"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One simulation run."""

    requests: int = 250_000
    """Requests of the measured day (the whole span of every campaign's local day)."""
    seed: int = 7
    campaigns: int = 50
    processes: int = 2
    """Exchange processes sharing the store (each with its own router and pacer)."""
    tick_s: float = 4.0
    """Each process's pacing tick, in simulated seconds (the processes tick staggered)."""
    day: str = "2025-03-12"
    pacing: PacingMode = "shaped"
    """``shaped``: plans follow yesterday's traffic; ``even``: flat plans; ``off``: no
    pacing at all (plans are still computed, to measure against)."""
    notice_delay_s: float = 5.0
    """Mean delay (exponential) between an auction and its billing notice, simulated
    seconds: pacing sees spend late, and holds stay open meanwhile, as in production."""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    redis_url: str | None = None
    warmup_requests: int | None = None
    """Requests of yesterday (None: half as many as today; its traffic shape is what
    matters, and capacities are scaled up to today's volume)."""
    progress: bool = True
    canary: CanaryFile | None = None
    """A canary rollout for the day; the routers then score with the shipped models (the
    control arm) and the canary's (its arm), and each process judges its guards at every
    pacing tick."""

    @property
    def yesterday_requests(self) -> int:
        """How many requests yesterday replays."""
        return self.warmup_requests or max(1, self.requests // 2)

    def pacing_config(self) -> PacingConfig:
        """The pacers' settings. A simulated day has far fewer requests than a real one, so
        a profile is trusted from 500 counted requests on."""
        return PacingConfig(
            controller=self.controller,
            shaped=self.pacing != "even",
            min_profile_requests=500,
        )
