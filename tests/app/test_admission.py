"""The in-flight limit, in process: requests past it get 503 with Retry-After at once, bid
requests the no-bid an SSP expects (204), also when they waited too long to be started."""

import asyncio
import dataclasses
import time
from collections.abc import Callable

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from app.admission import InFlightLimit
from app.http_limits import DEFAULT_LIMITS, LIMITS_STATE_KEY, stamp_arrival


class Gate:
    """An ASGI app whose requests wait until the test opens the gate."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()

    async def reached(self, count: int) -> None:
        """Until ``count`` more requests are inside the app."""
        for _ in range(count):
            await self.arrivals.get()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.arrivals.put_nowait(scope["path"])
        await self.open.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def client_of(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://exchange")


async def test_past_the_limit_requests_get_503_with_retry_after() -> None:
    gate = Gate()
    limited = InFlightLimit(gate, max_in_flight=2, retry_after_s=3)
    async with client_of(limited) as client:
        held = [asyncio.create_task(client.post("/track/conversion")) for _ in range(2)]
        await gate.reached(2)
        refused = await client.post("/track/conversion")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.json() == {
            "error": {"field": "server", "message": "over 2 requests in flight; retry in 3 s"}
        }
        assert limited.in_flight == 2
        gate.open.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [204, 204]
        assert limited.in_flight == 0
        assert (await client.post("/track/conversion")).status_code == 204


async def test_liveness_and_metrics_are_admitted_under_overload() -> None:
    gate = Gate()
    async with client_of(InFlightLimit(gate, max_in_flight=1, retry_after_s=1)) as client:
        held = asyncio.create_task(client.post("/openrtb2/auction"))
        await gate.reached(1)
        probes = [asyncio.create_task(client.get(path)) for path in ("/healthz", "/metrics")]
        await gate.reached(2)
        gate.open.set()
        answers = await asyncio.gather(held, *probes)
        assert [a.status_code for a in answers] == [204, 204, 204]


class Stamped:
    """Serves ``app`` as the exchange's protocol and lifespan would: the request's arrival
    time in its scope (``waited`` seconds ago) and the limits, counting sheds, in its state."""

    def __init__(
        self,
        app: ASGIApp,
        waited: Callable[[], float],
        queue_wait_s: float = 0.0,
        busy_queue_wait_s: float | None = None,
    ) -> None:
        self.app = app
        self.waited = waited
        self.waits = {
            "queue_wait_s": queue_wait_s,
            "busy_queue_wait_s": queue_wait_s if busy_queue_wait_s is None else busy_queue_wait_s,
        }
        self.shed: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = dataclasses.replace(DEFAULT_LIMITS, shed=self.shed.append, **self.waits)
        scope = {**scope, "state": {LIMITS_STATE_KEY: limits}}
        stamp_arrival(scope, time.monotonic() - self.waited())
        await self.app(scope, receive, send)


async def test_bid_requests_past_the_limit_get_a_no_bid_at_once() -> None:
    gate = Gate()
    served = Stamped(InFlightLimit(gate, max_in_flight=1, retry_after_s=1), lambda: 0.0)
    async with client_of(served) as client:
        held = asyncio.create_task(client.post("/openrtb2/auction", content=b"{}"))
        await gate.reached(1)
        shed = await client.post("/openrtb2/auction", content=b'{"id": "x"}' * 1000)
        assert shed.status_code == 204
        assert shed.headers["x-openrtb-version"] == "2.6"
        assert served.shed == ["overloaded"]
        gate.open.set()
        assert (await held).status_code == 204
        assert gate.arrivals.empty()  # the shed request never reached the app


async def test_while_others_are_in_flight_the_shorter_busy_wait_applies() -> None:
    gate = Gate()
    waits = iter([0.0, 0.008, 0.008])  # the held one; then one beside it; then one alone
    limited = InFlightLimit(gate, max_in_flight=8, retry_after_s=1)
    served = Stamped(limited, lambda: next(waits), queue_wait_s=0.020, busy_queue_wait_s=0.005)
    async with client_of(served) as client:
        held = asyncio.create_task(client.post("/openrtb2/auction", content=b"{}"))
        await gate.reached(1)
        beside = await client.post("/openrtb2/auction", content=b"{}")
        assert served.shed == ["queued_too_long"]  # 8 ms > 5 ms, with one in flight
        gate.open.set()
        assert (await held).status_code == 204
        alone = await client.post("/openrtb2/auction", content=b"{}")
    assert beside.status_code == alone.status_code == 204
    assert served.shed == ["queued_too_long"]  # alone, 8 ms is within the 20 ms
    assert await gate.arrivals.get() == "/openrtb2/auction"  # the lone one (reached: the held)
    assert gate.arrivals.empty()  # not the one beside


async def test_a_bid_request_that_waited_too_long_is_answered_unheard() -> None:
    gate = Gate()
    gate.open.set()
    waits = iter([0.030, 0.010])
    limited = InFlightLimit(gate, max_in_flight=8, retry_after_s=1)
    served = Stamped(limited, lambda: next(waits), queue_wait_s=0.020)
    async with client_of(served) as client:
        late = await client.post("/openrtb2/auction", content=b"{}")
        timely = await client.post("/openrtb2/auction", content=b"{}")
    assert (late.status_code, timely.status_code) == (204, 204)
    assert served.shed == ["queued_too_long"]
    assert await gate.arrivals.get() == "/openrtb2/auction"  # only the timely one got in
    assert gate.arrivals.empty()
