"""Which creative a campaign shows on an impression: Thompson sampling over CTR beliefs.

Each eligible creative's CTR belief is a Beta posterior (its prior updated with the
impressions and clicks counted so far, shared by every process through the counter store);
one draw per creative, the largest draw shows. New creatives are uncertain, so they win
draws often enough to be learnt; a creative that keeps failing stops being drawn high.
All campaigns of a request are sampled in one ``rng.beta`` call.
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from bidding.campaigns import Campaign
from bidding.exploration import Counts, posterior, thompson


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
    multi = [i for i, (_, creatives) in enumerate(choices) if len(creatives) > 1]
    if not multi:
        return chosen
    keys = [(choices[i][0].id, choices[i][0].creatives[k].id) for i in multi for k in choices[i][1]]
    counts = stats.snapshot(keys) if stats is not None else [Counts()] * len(keys)
    alphas, betas, starts = [], [], []
    flat = 0
    for i in multi:
        campaign, creatives = choices[i]
        starts.append(flat)
        for k in creatives:
            belief = posterior(campaign.ctr_prior(campaign.creatives[k]), counts[flat])
            alphas.append(belief.alpha)
            betas.append(belief.beta)
            flat += 1
    picks = thompson(alphas, betas, starts, rng).position
    for group, i in enumerate(multi):
        chosen[i] = choices[i][1][int(picks[group]) - starts[group]]
    return chosen
