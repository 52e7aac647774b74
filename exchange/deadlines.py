"""What a bid request's ``tmax`` leaves for its bidders once the event loop is behind.

Under load every step of an auction waits its turn behind the loop's other work, and a
request's own wait for its handler is the best reading of how long each turn is. An auction
that calls external bidders takes ``LAG_PASSES`` more turns after that wait (the calls'
start, the answers, the deadline's timer, the wake-up, the response), so it must both be
admitted early enough and stop waiting for its bidders early enough to leave within
``tmax``. An auction of in-process routers only runs in one turn and needs neither.
"""

from typing import Final

LAG_PASSES: Final = 5
"""Turns of the loop an auction with external bidders waits for after its handler starts
(measured: docs/performance.md, *Overload*)."""
MIN_QUEUE_WAIT_MS: Final = 1.0
"""The shortest admission wait the exchange sets: below, a burst of arrivals would be shed
even on an idle loop."""
MIN_FAN_OUT_MS: Final = 10.0
"""The reserve for the turns to come never cuts the bidders' window below this (while
``tmax`` itself leaves it): the reserve is an estimate from one wait, which a pause of the
process alone (a collection, the scheduler) can stretch without the loop being behind."""


def queue_wait_limit_ms(cap_ms: float, tmax_ms: int, reserve_ms: int, fan_out_ms: int) -> float:
    """The longest a bid request may wait for its handler: ``cap_ms``, or less when an
    auction whose every later turn waited as long would end past ``tmax`` (``fan_out_ms``:
    the external bidders' deadline, 0 for in-process bidders only). 0 stays 0 (never shed)."""
    if cap_ms <= 0 or fan_out_ms <= 0:
        return cap_ms
    fits = (tmax_ms - reserve_ms - fan_out_ms) / (1 + LAG_PASSES)
    return min(cap_ms, max(MIN_QUEUE_WAIT_MS, fits))


def bidders_budget_ms(tmax_ms: int, reserve_ms: int, elapsed_ms: float, external: bool) -> float:
    """What ``tmax`` leaves for the bidders after the ``elapsed_ms`` since arrival, the
    response reserve and — with external bidders — the turns still to come, each as long
    as the request has waited so far (but at least ``MIN_FAN_OUT_MS`` that ``tmax`` leaves)."""
    left = tmax_ms - reserve_ms - elapsed_ms
    if not external:
        return left
    return max(left - LAG_PASSES * elapsed_ms, min(left, MIN_FAN_OUT_MS))
