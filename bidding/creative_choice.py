"""Which creative a campaign shows on an impression: Thompson sampling over CTR beliefs.

Each eligible creative's CTR belief is a Beta posterior (its prior updated with the
impressions and clicks counted so far, shared by every process through the counter store);
one draw per creative, the largest draw shows. New creatives are uncertain, so they win
draws often enough to be learnt; a creative that keeps failing stops being drawn high.
``bidding.exploration.thompson_positions`` draws for all campaigns of a request at once, by
scalar draws for a handful of creatives and one array call for many (the same draws).
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from bidding.campaigns import Campaign
from bidding.exploration import BetaPrior, Counts, thompson_positions


class CreativeCounts(Protocol):
    """Impressions and clicks per (campaign id, creative id), from a local cache (no I/O)."""

    def snapshot(self, keys: Sequence[tuple[str, str]]) -> list[Counts]: ...


def choose_creatives(
    choices: Sequence[tuple[Campaign, tuple[int, ...]]],
    stats: CreativeCounts | None,
    rng: np.random.Generator,
) -> list[int]:
    """For each (campaign, eligible creative positions), the position to show.

    A campaign with one eligible creative needs no draw; without stats every creative is
    drawn from its prior alone.
    """
    chosen = [creatives[0] for _, creatives in choices]
    multi: list[int] = []
    starts: list[int] = []
    keys: list[tuple[str, str]] = []
    priors: list[BetaPrior] = []
    for i, (campaign, creatives) in enumerate(choices):
        if len(creatives) > 1:
            multi.append(i)
            starts.append(len(keys))
            for k in creatives:
                creative = campaign.creatives[k]
                keys.append((campaign.id, creative.id))
                priors.append(campaign.ctr_prior(creative))
    if not multi:
        return chosen
    counts = stats.snapshot(keys) if stats is not None else [Counts()] * len(keys)
    # ``exploration.posterior`` inlined (no validated BetaPrior per creative): clicks beyond
    # impressions count as impressions, so β never shrinks.
    alphas = [p.alpha + (c if c > 0 else 0) for p, (_, c) in zip(priors, counts, strict=True)]
    betas = [
        p.beta + max(0, n - (c if c > 0 else 0)) for p, (n, c) in zip(priors, counts, strict=True)
    ]
    picks = thompson_positions(alphas, betas, starts, rng)
    for group, i in enumerate(multi):
        chosen[i] = choices[i][1][picks[group] - starts[group]]
    return chosen
