"""Fires DSPs' own notice URLs (nurl, burl) off the request path.

A bounded queue and a fixed set of workers: a dead or slow notice endpoint costs at most
its timeout per attempt on a worker, never a request's latency, and a flood is shed (and
counted) instead of growing memory. URLs into private networks are refused
(``exchange.forward_guard``: a DSP's URL must not reach the operator's internal services).
Retries are few and only for failures that a retry can fix (connection errors, timeouts,
5xx).
"""

import asyncio
import contextlib

import httpx
import structlog

from exchange.forward_guard import Resolver, refusal, system_resolver
from exchange.metrics import Metrics

log = structlog.get_logger("exchange.forwarder")


class NoticeForwarder:
    """Queue of GET requests to notice URLs, drained by background workers."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        metrics: Metrics,
        *,
        concurrency: int,
        queue_size: int,
        retries: int,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._client = client
        self._metrics = metrics
        self._retries = retries
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._workers = [asyncio.create_task(self._work()) for _ in range(concurrency)]

    def submit(self, url: str) -> bool:
        """Queue ``url``; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(url)
        except asyncio.QueueFull:
            self._metrics.forwards.labels("dropped").inc()
            return False
        return True

    async def _work(self) -> None:
        while True:
            url = await self._queue.get()
            try:
                await self._send(url)
            finally:
                self._queue.task_done()

    async def _send(self, url: str) -> None:
        why = await refusal(url, self._resolver, allow_private=self._allow_private)
        if why is not None:  # a DSP's URL pointing into the operator's network
            self._metrics.forwards.labels("refused").inc()
            log.warning("notice_forward_refused", reason=why)
            return
        for attempt in range(self._retries + 1):
            try:
                response = await self._client.get(url)
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            else:
                if response.status_code < 500:
                    self._metrics.forwards.labels("sent").inc()
                    return
                error = f"status {response.status_code}"
            if attempt < self._retries:
                await asyncio.sleep(0.1 * 2**attempt)
        self._metrics.forwards.labels("failed").inc()
        log.warning("notice_forward_failed", error=error, attempts=self._retries + 1)

    async def aclose(self, drain_timeout_s: float = 5.0) -> None:
        """Send what is queued (up to ``drain_timeout_s``), then stop the workers."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_timeout_s):
                await self._queue.join()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
