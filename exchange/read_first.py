"""Deadlines that let a busy event loop read its sockets before they take effect.

A loop that was kept busy past a deadline finds, when it is free, both the deadline's timer
due and, often, the answer it was waiting for already in the socket. uvloop (libuv) runs
every due timer *before* it reads the sockets again, so a plain timer would throw away an
answer that came in time and was only read late. A callback scheduled from a timer runs
before that read too; one scheduled from that callback runs after it. So these deadlines
take two turns of the loop more: the cost is one turn's delay, only when a deadline is hit.
"""

import asyncio
from collections.abc import Callable, Collection
from typing import Any

__all__ = ["call_after_a_read", "call_later_after_a_read", "wait_reading_first"]


def call_after_a_read(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any
) -> None:
    """Run ``callback(*args)`` once the loop has read its sockets again."""
    loop.call_soon(loop.call_soon, callback, *args)


def call_later_after_a_read(
    loop: asyncio.AbstractEventLoop, delay_s: float, callback: Callable[..., Any], *args: Any
) -> asyncio.TimerHandle:
    """``loop.call_later(delay_s, callback, *args)``, run once the loop has read its sockets
    after the delay; cancelling the handle before it is due cancels it."""
    return loop.call_later(delay_s, call_after_a_read, loop, callback, *args)


async def wait_reading_first(tasks: Collection[asyncio.Future[Any]], timeout_s: float) -> None:
    """``asyncio.wait(tasks, timeout=timeout_s)``, whose timeout waits for a read."""
    if not tasks:
        return
    loop = asyncio.get_running_loop()
    over: asyncio.Future[None] = loop.create_future()
    left = len(tasks)

    def finish(_: object = None) -> None:
        if not over.done():
            over.set_result(None)

    def one_done(_: asyncio.Future[Any]) -> None:
        nonlocal left
        left -= 1
        if not left:
            finish()

    for task in tasks:
        task.add_done_callback(one_done)
    timer = call_later_after_a_read(loop, timeout_s, finish)
    try:
        await over
    finally:
        timer.cancel()
        for task in tasks:
            task.remove_done_callback(one_done)
