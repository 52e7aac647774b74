"""Hot reload of the routers' models: swap in new model files without dropping a request.

A background task checks the model files' size and modification time every few seconds;
when they change it loads them in a worker thread (an XGBoost load takes milliseconds the
event loop must not lose) and ``ModelHolder`` swaps the whole model pair in one reference
assignment, so a request in flight finishes on the pair it started with. A half-copied or
corrupt file, or one below the quality bar (``bidding.quality``), never replaces a working
model (``ModelHolder.reload``): the old one keeps serving, a warning names the reason, and
``rtb_model_reloads_total{outcome="refused"}`` counts it.
"""

import asyncio

import structlog

from bidding.models import ModelHolder

log = structlog.get_logger("app.models")


async def watch_models(holder: ModelHolder, interval_s: float) -> None:
    """Reload ``holder`` whenever its files change, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        refused = holder.reloads["refused"]
        try:
            swapped = await asyncio.to_thread(holder.reload_if_changed)
        except Exception as exc:  # a reload bug must not stop bidding on the live models
            log.error("model_reload_failed", error=repr(exc))
            continue
        if swapped:
            log.info("models_reloaded", degraded=holder.degraded)
        elif holder.reloads["refused"] > refused:  # once per changed file: it is not retried
            log.warning("model_reload_refused", error=holder.last_error)
