"""A canary rollout: new models (or a bolder or shyer strategy) on a share of the traffic,
beside the serving ones, rolled back by itself when a guard is breached.

```json
{"name": "ctr-2026-12-03", "share": 0.1, "models": "/srv/models/canary", "bid_scale": 1.0,
 "guards": {"spend_rate": 0.3, "min_requests": 1000}}
```

Each auction is in the canary arm or in control by ``experiments.assignment.variant_of`` of
its id, salted with the canary's name, so every router and process puts an auction in the
same arm, and its notices and clicks (keyed by auction) find their arm again without a
lookup. In the canary arm the routers score value-based candidates with the canary's models
(``models``; none: the serving ones) and scale the pacing multiplier by ``bid_scale``; bids
are still clipped to the campaign's [min, max] and held against its budget, so a canary can
waste money but never overspend. A canary model that fails on a request counts an error and
that request is priced by the serving models.

``Canary`` holds the state and the counts of one process; ``exchange.canary_watch`` judges
them (``bidding.canary_guards``), shares a rollback through the store and records it.
"""

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bidding.canary_guards import ArmCounts, Guard, GuardConfig
from bidding.models import CtrCvrModels, ModelHolder, RuleBasedModel
from experiments.assignment import variant_of

__all__ = ["CANARY", "CONTROL", "Canary", "CanaryFile", "CanaryState"]

CANARY: Literal["canary"] = "canary"
CONTROL: Literal["control"] = "control"
Arm = Literal["canary", "control"]


class CanaryState(StrEnum):
    ACTIVE = "active"
    ROLLED_BACK = "rolled_back"
    REFUSED = "refused"
    """Its models did not load (or fell below the quality bar): it never took traffic."""


class _GuardsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bid_rate: float = Field(default=0.3, gt=0, le=10, allow_inf_nan=False)
    win_rate: float = Field(default=0.3, gt=0, le=10, allow_inf_nan=False)
    spend_rate: float = Field(default=0.3, gt=0, le=10, allow_inf_nan=False)
    ecpc: float = Field(default=0.5, gt=0, le=10, allow_inf_nan=False)
    max_error_rate: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)
    min_errors: int = Field(default=10, ge=1)
    min_requests: int = Field(default=1000, ge=10)
    min_clicks: int = Field(default=30, ge=1)
    alpha: float = Field(default=0.001, gt=0, lt=0.5, allow_inf_nan=False)


class CanaryFile(BaseModel):
    """The canary file (``RTB_CANARY_FILE``), every field checked before it takes traffic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    share: float = Field(gt=0, le=0.5, allow_inf_nan=False)
    """Of the auctions; at most half: a canary is the smaller arm."""
    models: Path | None = None
    """A directory with ``ctr.ubj``/``cvr.ubj``; None: the serving models (a strategy canary)."""
    bid_scale: float = Field(default=1.0, gt=0, le=4, allow_inf_nan=False)
    guards: _GuardsFile = _GuardsFile()
    check_interval_s: float = Field(default=10.0, ge=0.1, le=3600, allow_inf_nan=False)

    def guard_config(self) -> GuardConfig:
        return GuardConfig(**self.guards.model_dump())


@dataclass(slots=True)
class Canary:
    """One process's canary: which arm an auction is in, the canary arm's models, the counts
    of both arms, and whether it still runs."""

    config: CanaryFile
    holder: ModelHolder | None
    """The canary's models (None: the serving ones)."""
    state: CanaryState = CanaryState.ACTIVE
    reason: str | None = None
    """Why it was rolled back or refused."""
    arms: dict[str, ArmCounts] = field(
        default_factory=lambda: {CONTROL: ArmCounts(), CANARY: ArmCounts()}
    )
    mixing: dict[Guard, float] = field(default_factory=dict)
    """Each guard's τ², fixed at its first judged look (``canary_guards.judge``)."""
    shared: bool = False
    """Whether its rollback has been written to the store (retried until it is)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, config: CanaryFile, serving: ModelHolder | None) -> "Canary":
        """The canary of ``config``, its models loaded as the serving ones are (same fallback,
        quality bar and compilation); refused when they would bid on stand-ins."""
        if config.models is None:
            return cls(config, None)
        if serving is None:
            return cls(config, None, CanaryState.REFUSED, "the routers run without models")
        holder = ModelHolder(config.models, serving.fallback, build=serving.build, bar=serving.bar)
        if holder.degraded:
            problems = "; ".join(holder.current.problems) or "no trained model"
            return cls(config, holder, CanaryState.REFUSED, problems)
        return cls(config, holder)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def active(self) -> bool:
        return self.state is CanaryState.ACTIVE

    @property
    def rolled_back(self) -> bool:
        return self.state is CanaryState.ROLLED_BACK

    def arm_counts(self) -> dict[str, dict[str, int]]:
        """Each arm's counts (the metrics)."""
        return {arm: counts.as_dict() for arm, counts in self.arms.items()}

    def arm(self, auction_id: str) -> Arm:
        """The arm ``auction_id`` is in (every process agrees)."""
        share = self.config.share
        picked = variant_of(auction_id, self.config.name, [(CONTROL, 1 - share), (CANARY, share)])
        return CANARY if picked == CANARY else CONTROL

    def serving_arm(self, auction_id: str) -> Arm | None:
        """The arm of an auction the canary takes part in now; None once it stopped."""
        return self.arm(auction_id) if self.active else None

    def models(self) -> CtrCvrModels | RuleBasedModel | None:
        """The canary arm's models now (None: the serving ones)."""
        return self.holder.current if self.holder is not None else None

    def roll_back(self, reason: str) -> bool:
        """Stop sending auctions to the canary; True the first time."""
        with self._lock:
            if self.state is not CanaryState.ACTIVE:
                return False
            self.state, self.reason = CanaryState.ROLLED_BACK, reason
            return True

    def status(self) -> dict[str, object]:
        """What ``/readyz`` shows."""
        return {
            "name": self.name,
            "state": self.state.value,
            "reason": self.reason,
            "share": self.config.share,
            "models": str(self.config.models) if self.config.models else None,
            "bid_scale": self.config.bid_scale,
            "arms": self.arm_counts(),
        }
