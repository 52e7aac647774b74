"""The model part of the router's decision time: features plus one batched predict.

``model_timings`` builds the context of a realistic bid request, the feature rows of N
candidate ads (gathered from a block precomputed at startup, as a router does) and scores
them with the shipped CTR and CVR models — one in-place prediction per model — and reports
median and p99 over many repetitions. Run it alone with ``python -m bench.router_models``.
"""

import time
from pathlib import Path

import numpy as np

from bidding.features import AdBlock, AdKey, ContextFeatures, feature_matrix
from bidding.models import CtrCvrModels, RuleBasedModel, load_models
from openrtb.request import BidRequest

__all__ = ["model_timings"]

_MODELS = Path(__file__).resolve().parent.parent / "bidding" / "model_files"
_CATS = ("IAB1", "IAB2", "IAB3", "IAB8", "IAB9", "IAB17", "IAB19", "IAB20")


def _request() -> BidRequest:
    from tests.builders import banner_request  # the project's one request fixture

    body = banner_request()
    body["user"].update(
        yob=1988,
        gender="F",
        data=[{"id": "synth", "segment": [{"id": "topic-3"}, {"id": "misc-7"}]}],
    )
    return BidRequest.model_validate(body)


def model_timings(
    sizes: tuple[int, ...] = (10, 100, 1000), repeats: int = 2000
) -> list[tuple[str, float, float]]:
    """(label, median µs, p99 µs) per candidate count: features then both predictions."""
    models = load_models(_MODELS, RuleBasedModel(0.01, 0.05))
    if not isinstance(models, CtrCvrModels) or models.degraded:
        raise RuntimeError(f"shipped models unusable: {models.problems}")
    request = _request()
    imp = request.imp[0]
    ads = [
        AdKey(f"cmp-{i // 3}", f"cr-{i}", _CATS[i % len(_CATS)], 300, 250)
        for i in range(max(sizes))
    ]
    block = AdBlock.of(ads)
    out = []
    for n in sizes:
        rows = np.arange(n, dtype=np.intp)
        samples = np.empty(repeats)
        for i in range(repeats + 50):
            started = time.perf_counter()
            context = ContextFeatures.of(request, imp, 1_767_225_600.0)
            models.predict(feature_matrix(context, block.take(rows)))
            if i >= 50:  # warm-up
                samples[i - 50] = time.perf_counter() - started
        out.append(
            (
                f"features + CTR/CVR predict, {n} candidates",
                float(np.median(samples) * 1e6),
                float(np.percentile(samples, 99) * 1e6),
            )
        )
    return out


if __name__ == "__main__":
    for label, median_us, p99_us in model_timings():
        print(f"{label:45s} median {median_us:8.1f} µs   p99 {p99_us:8.1f} µs")
