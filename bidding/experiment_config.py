"""A campaign's A/B test of its bid strategy: variants that scale its value-based bid.

```json
"experiment": {"name": "bolder-dec", "key": "auction",
               "variants": [{"name": "control", "share": 0.5},
                            {"name": "bolder", "share": 0.5, "bid_scale": 1.25}]}
```

Each auction (``key`` ``auction``: the bid request's id) or user (``user``: the exchange's
keyed hash of the user, never the raw id; a request without one takes no part) is placed
in a variant by ``experiments.assignment.variant_of`` salted with the experiment's name, so
the same user stays in one variant for the whole experiment. A variant's ``bid_scale``
multiplies the pacing multiplier: the bid is still clipped to the campaign's [min, max] and
held against its budget, so no variant can overspend. The variant goes with the winning
bid into its ``winner_features`` event, where ``rtb experiment --events`` finds it.
"""

from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments.assignment import variant_of

__all__ = ["Experiment", "ExperimentFile", "Variant"]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    share: float
    bid_scale: float


@dataclass(frozen=True, slots=True)
class Experiment:
    """A campaign's experiment (module docstring)."""

    name: str
    key: Literal["auction", "user"]
    variants: tuple[Variant, ...]

    def variant(self, key: str) -> Variant:
        """The variant of ``key`` (an auction's or a user's id, as ``self.key`` says)."""
        name = variant_of(key, self.name, [(v.name, v.share) for v in self.variants])
        return next(v for v in self.variants if v.name == name)


class _VariantFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    share: float = Field(ge=0, le=1, allow_inf_nan=False)
    bid_scale: float = Field(default=1.0, gt=0, le=4, allow_inf_nan=False)


class ExperimentFile(BaseModel):
    """The ``experiment`` of a campaign in a bidders file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    key: Literal["auction", "user"] = "auction"
    variants: list[_VariantFile] = Field(min_length=2, max_length=8)

    @model_validator(mode="after")
    def _shares(self) -> Self:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must differ")
        if abs(sum(v.share for v in self.variants) - 1.0) > 1e-9:
            raise ValueError("variant shares must add up to 1")
        return self

    def build(self) -> Experiment:
        variants = tuple(Variant(v.name, v.share, v.bid_scale) for v in self.variants)
        return Experiment(self.name, self.key, variants)
