"""pCTR and pCVR for all candidate ads of one request, in one batched model call.

The ad half of every feature row is encoded once at startup (one ``AdBlock`` row per hosted
campaign × creative); a request gathers its candidates' rows, joins them with the context
row of their impression, and scores the whole batch with one call per model (never a call
per campaign: even compiled, each call has a fixed cost; ``bidding.models`` picks the
cheapest path that agrees with XGBoost).

Without usable models (missing or refused files) each campaign's historical average CTR and
CVR stand in, so value-based campaigns keep bidding sensibly while ``degraded`` tells
``/readyz``.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bidding.campaigns import Campaign
from bidding.event_log import ad_key
from bidding.features import AdBlock, AdKey, ContextFeatures, ProfileCounts, feature_matrix
from bidding.models import CtrCvrModels, ModelHolder, RuleBasedModel
from openrtb.imp import Imp
from openrtb.request import BidRequest

FloatArray = npt.NDArray[np.float64]


class Predictions(NamedTuple):
    """Per candidate (in the order asked): pCTR, pCVR given a click, and whether they came
    from the rule-based fallback."""

    pctr: FloatArray
    pcvr: FloatArray
    degraded: bool


class CandidateScorer:
    """Scores (campaign, creative) candidates of a router's campaigns against a request."""

    def __init__(self, campaigns: Sequence[Campaign], models: ModelHolder | None) -> None:
        self._models = models
        ads: list[AdKey] = []
        self._row: dict[tuple[int, int], int] = {}
        for c_pos, campaign in enumerate(campaigns):
            for k_pos, creative in enumerate(campaign.creatives):
                self._row[c_pos, k_pos] = len(ads)
                ads.append(ad_key(campaign, creative))  # as the event log records it
        self._block = AdBlock.of(ads) if ads else None
        self._historical_ctr = np.array([c.historical_ctr for c in campaigns], np.float64)
        self._historical_cvr = np.array([c.historical_cvr for c in campaigns], np.float64)
        self._uses_cvr = np.array(
            [c.goal is not None and c.goal.uses_cvr for c in campaigns], np.bool_
        )

    @property
    def degraded(self) -> bool:
        """Whether bids use the historical averages instead of trained models."""
        return self._models is None or self._models.degraded

    def score(
        self,
        request: BidRequest,
        imps: Sequence[Imp],
        candidates: Sequence[tuple[int, int, int]],
        now_s: float,
        profile: ProfileCounts | None = None,
        models: CtrCvrModels | RuleBasedModel | None = None,
    ) -> Predictions:
        """Predictions for ``candidates`` — (imp index into ``imps``, campaign position,
        creative position) — for a user with ``profile`` (None: not readable), with one
        model call for all of them; ``models`` instead of the serving ones (a canary's)."""
        positions = np.fromiter((c for _, c, _ in candidates), np.intp, len(candidates))
        if models is None and self._models is not None:
            models = self._models.current
        if models is None or isinstance(models, RuleBasedModel) or self._block is None:
            return Predictions(
                self._historical_ctr[positions], self._historical_cvr[positions], True
            )
        rows = np.fromiter((self._row[c, k] for _, c, k in candidates), np.intp, len(candidates))
        imp_index = np.fromiter((i for i, _, _ in candidates), np.intp, len(candidates))
        if (imp_index == imp_index[0]).all():  # one impression (the usual case)
            context = ContextFeatures.of(request, imps[int(imp_index[0])], now_s, profile)
            matrix = feature_matrix(context, self._block.take(rows))
            order = None
        else:  # several impressions: one matrix per imp, stacked for one call
            order = np.argsort(imp_index, kind="stable")
            parts = []
            for i in np.unique(imp_index):
                context = ContextFeatures.of(request, imps[int(i)], now_s, profile)
                parts.append(feature_matrix(context, self._block.take(rows[imp_index == i])))
            matrix = np.vstack(parts)
        pctr = np.asarray(models.ctr.predict(matrix), np.float64)
        if self._uses_cvr[positions].any():
            pcvr = np.asarray(models.cvr.predict(matrix), np.float64)
        else:  # CPC goals only: a click is the whole value, the CVR model call is saved
            pcvr = np.zeros_like(pctr)
        if order is not None:  # back to the candidates' order
            unsorted_ctr, unsorted_cvr = np.empty_like(pctr), np.empty_like(pcvr)
            unsorted_ctr[order], unsorted_cvr[order] = pctr, pcvr
            pctr, pcvr = unsorted_ctr, unsorted_cvr
        return Predictions(pctr, pcvr, models.degraded)
