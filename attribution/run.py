"""Every model over one input: the credits per channel in whole micros.

Each model's credits add up to the value of the conversions that have a touch in their
window; the value of those without one is reported beside them (``unattributed_micros``),
not spread over channels it never touched.
"""

from dataclasses import dataclass
from typing import Final

from attribution.journeys import Journeys, paths
from attribution.rules import RULES, apportion, rule_credits
from attribution.shapley import EXACT_UP_TO, Form, ShapleyValues, shapley

__all__ = ["MODELS", "Attribution", "Options", "attribute"]

MODELS: Final = (*RULES, "shapley")
_DAY_S: Final = 86_400.0
MAX_EXACT: Final = 22
"""2^22 coalitions: a few seconds and a few hundred MB; each channel more doubles both."""


@dataclass(frozen=True, slots=True)
class Options:
    lookback_days: float = 30.0
    half_life_days: float = 7.0
    shapley_form: Form = "subset"
    exact_up_to: int = EXACT_UP_TO
    permutations: int = 2_000
    seed: int = 1

    def __post_init__(self) -> None:
        if not self.lookback_days >= 0:
            raise ValueError("the lookback window must be ≥ 0 days")
        if not self.half_life_days > 0:
            raise ValueError("the half-life must be > 0 days")
        if self.exact_up_to > MAX_EXACT:
            raise ValueError(
                f"exact Shapley values over more than {MAX_EXACT} channels would enumerate "
                f"over {2**MAX_EXACT:,} coalitions: sample them instead"
            )


@dataclass(frozen=True, slots=True)
class Attribution:
    """``credits[model][channel]``: micros; channels sorted by name."""

    source: str
    options: Options
    channels: tuple[str, ...]
    credits: dict[str, dict[str, int]]
    conversions: int
    attributed: int
    quiet_paths: int
    value_micros: int
    unattributed_micros: int
    shapley: ShapleyValues

    @property
    def std_errors(self) -> dict[str, float]:
        """The sampled Shapley values' standard errors in micros (none when exact)."""
        error = self.shapley.std_error
        if error is None:
            return {}
        return dict(zip(self.shapley.channels, (float(e) for e in error), strict=True))


def attribute(journeys: Journeys, options: Options = Options()) -> Attribution:
    """Every model of ``MODELS`` over ``journeys``. Raises ValueError for the ``rate``
    form of Shapley without a journey that did not convert (it has no rate to compare)."""
    converting, quiet = paths(journeys, options.lookback_days * _DAY_S)
    touched = [p for p in converting if p.touches]
    if options.shapley_form == "rate" and not any(q.touches for q in quiet):
        raise ValueError(
            "the rate form of Shapley needs journeys without a conversion; "
            "this input has none (use --shapley-value subset)"
        )
    game_paths = [*touched, *quiet] if options.shapley_form == "rate" else touched
    channels = sorted({c for p in game_paths for _, c in p.touches})
    half_life_s = options.half_life_days * _DAY_S
    credits: dict[str, dict[str, int]] = {}
    for model in RULES:
        totals = dict.fromkeys(channels, 0)
        for path in touched:
            for channel, micros in rule_credits(path, model, half_life_s).items():
                totals[channel] += micros
        credits[model] = totals
    attributed_micros = sum(p.value_micros for p in touched)
    values = shapley(
        game_paths,
        options.shapley_form,
        exact_up_to=options.exact_up_to,
        permutations=options.permutations,
        seed=options.seed,
    )
    by_channel = dict(
        zip(values.channels, apportion(list(values.values), attributed_micros), strict=True)
    )
    credits["shapley"] = {c: by_channel.get(c, 0) for c in channels}
    return Attribution(
        source=journeys.source,
        options=options,
        channels=tuple(channels),
        credits=credits,
        conversions=len(converting),
        attributed=len(touched),
        quiet_paths=len(quiet),
        value_micros=sum(p.value_micros for p in converting),
        unattributed_micros=sum(p.value_micros for p in converting if not p.touches),
        shapley=values,
    )
