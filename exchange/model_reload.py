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


async def reload_models(holder: ModelHolder, *, only_if_changed: bool = True) -> bool:
    """Load ``holder``'s files again in a worker thread and swap them in (the watcher's
    path, and the admin API's on demand): True if swapped; False when nothing changed or
    the new files were refused (``holder.last_error`` says why), the live models kept.
    Logged the same way whoever asked."""
    refused = holder.reloads["refused"]
    load = holder.reload_if_changed if only_if_changed else holder.reload
    try:
        swapped = await asyncio.to_thread(load)
    except Exception as exc:  # a reload bug must not stop bidding on the live models
        log.error("model_reload_failed", error=repr(exc))
        return False
    if swapped:
        log.info("models_reloaded", degraded=holder.degraded)
    elif holder.reloads["refused"] > refused:  # once per changed file: it is not retried
        log.warning("model_reload_refused", error=holder.last_error)
    return swapped


async def watch_models(holder: ModelHolder, interval_s: float) -> None:
    """Reload ``holder`` whenever its files change, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        await reload_models(holder)
