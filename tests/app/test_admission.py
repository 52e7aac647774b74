"""The in-flight limit, in process: requests past it get 503 with Retry-After at once."""

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from app.admission import InFlightLimit


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


def client_of(app: InFlightLimit) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://exchange")


async def test_past_the_limit_requests_get_503_with_retry_after() -> None:
    gate = Gate()
    limited = InFlightLimit(gate, max_in_flight=2, retry_after_s=3)
    async with client_of(limited) as client:
        held = [asyncio.create_task(client.post("/openrtb2/auction")) for _ in range(2)]
        await gate.reached(2)
        refused = await client.post("/openrtb2/auction")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.json() == {
            "error": {"field": "server", "message": "over 2 requests in flight; retry in 3 s"}
        }
        assert limited.in_flight == 2
        gate.open.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [204, 204]
        assert limited.in_flight == 0
        assert (await client.post("/openrtb2/auction")).status_code == 204


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
