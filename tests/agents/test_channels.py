"""Both ways of calling an agent (the lean client on the exchange's HTTP/2 engine, and
grpcio's asyncio client) against the same real grpc.aio peers: the same answers, and every
failure ending in the same outcome."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
import uvloop

from agents.channels import CallFailed, UnaryChannel, channel_for, message_of
from agents.protos import artf_pb2
from agents.reference.server import SPEC_SERVICE
from tests.agents.agent_peers import (
    GARBAGE_BYTES,
    AgentBehaviour,
    AgentPeer,
    AgentPeerServer,
)

ENGINES = ["lean", "grpcio"]
LIMIT = 64 * 1024


def payload(request_id: str = "r-1", tmax: int = 50) -> bytes:
    return artf_pb2.RTBRequest(id=request_id, tmax=tmax).SerializeToString()


@asynccontextmanager
async def channel_to(
    engine: str, target: str, service: str = SPEC_SERVICE, limit: int = LIMIT
) -> AsyncIterator[UnaryChannel]:
    channel = channel_for(engine, target, service, limit)
    try:
        yield channel
    finally:
        await channel.close()


async def outcome_of(channel: UnaryChannel, timeout_s: float = 1.0) -> str:
    with pytest.raises(CallFailed) as failed:
        await channel.call(payload(), timeout_s)
    return failed.value.outcome


@pytest.mark.parametrize("engine", ENGINES)
async def test_an_answer_comes_back_byte_for_byte(engine: str) -> None:
    segment = artf_pb2.Mutation(intent=artf_pb2.ACTIVATE_SEGMENTS, path="/user/data/segment")
    peer = AgentPeer("answers", mutations=[segment])
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            for n in range(3):  # the connection is reused
                answer = await channel.call(payload(f"r-{n}"), 1.0)
                assert answer == peer.response(artf_pb2.RTBRequest(id=f"r-{n}")).SerializeToString()
    assert [seen.request.id for seen in peer.seen] == ["r-0", "r-1", "r-2"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_agent_is_told_the_deadline(engine: str) -> None:
    peer = AgentPeer("told")
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            await channel.call(payload("connects"), 1.0)
            await channel.call(payload(), 0.5)
    seen = peer.seen[-1]
    assert seen.time_remaining_s is not None
    assert 0.3 < seen.time_remaining_s <= 0.51  # grpc rounds a deadline up, to its unit


@pytest.mark.parametrize("engine", ENGINES)
async def test_calls_share_one_connection_at_once(engine: str) -> None:
    peer = AgentPeer("slowish", AgentBehaviour.SLOW, delay_s=0.05)
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            await channel.call(payload("warm"), 1.0)
            started = time.monotonic()
            calls = (channel.call(payload(f"r-{n}"), 1.0) for n in range(20))
            answers = await asyncio.gather(*calls)
            elapsed = time.monotonic() - started
    assert len(answers) == 20
    assert elapsed < 20 * 0.05 / 2  # at once, not one after another


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (grpc.StatusCode.INTERNAL, "error"),
        (grpc.StatusCode.UNAVAILABLE, "unavailable"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "too_large"),
        (grpc.StatusCode.PERMISSION_DENIED, "error"),
    ],
)
async def test_an_error_status_ends_in_its_outcome(
    engine: str, status: grpc.StatusCode, outcome: str
) -> None:
    peer = AgentPeer("failing", AgentBehaviour.ERROR, status=status)
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            assert await outcome_of(channel) == outcome
            assert await outcome_of(channel) == outcome  # and the connection is still good


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_hanging_agent_is_left_at_the_deadline(engine: str) -> None:
    peer = AgentPeer("hangs", AgentBehaviour.HANG)
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            started = time.monotonic()
            assert await outcome_of(channel, 0.05) == "timeout"
            assert time.monotonic() - started < 0.5


async def answered_through_a_busy_loop(engine: str, target: str) -> bytes:
    """A call of 50 ms to an agent that answers in 20, while the loop is kept busy for 200 ms
    by a socket's read callback (where uvloop, once free, runs its due timers before it
    reads the other sockets): the answer came in time, and is read late."""
    loop = asyncio.get_running_loop()
    busy, trigger = socket.socketpair()
    loop.add_reader(busy, lambda: (busy.recv(1), time.sleep(0.2)))
    try:
        async with channel_to(engine, target) as channel:
            await channel.call(payload("connects"), 1.0)
            call = asyncio.ensure_future(channel.call(payload(), 0.05))
            await asyncio.sleep(0)  # the request is sent
            trigger.send(b"x")
            return await call
    finally:
        loop.remove_reader(busy)
        busy.close()
        trigger.close()


GRPCIO_READS_LATE = pytest.mark.xfail(
    strict=True, reason="grpcio's deadline throws the answer away (docs/decisions.md)"
)


@pytest.mark.parametrize(
    ("engine", "run"),
    [
        pytest.param("lean", asyncio.run, id="lean-asyncio"),
        pytest.param("lean", uvloop.run, id="lean-uvloop"),
        pytest.param("grpcio", asyncio.run, id="grpcio-asyncio"),
        pytest.param("grpcio", uvloop.run, id="grpcio-uvloop", marks=GRPCIO_READS_LATE),
    ],
)
def test_an_answer_in_time_counts_when_a_busy_loop_reads_it_late(
    engine: str, run: Callable[[Coroutine[Any, Any, bytes]], bytes]
) -> None:
    # uvloop runs every due timer before it reads the sockets again: the hard case
    peer = AgentPeer("prompt", AgentBehaviour.SLOW, delay_s=0.02)
    with AgentPeerServer([peer]):
        answer = run(answered_through_a_busy_loop(engine, peer.target))
    assert artf_pb2.RTBResponse.FromString(answer).id == "r-1"


@pytest.mark.parametrize("engine", ENGINES)
async def test_an_answer_over_the_limit_is_refused(engine: str) -> None:
    peer = AgentPeer("huge", AgentBehaviour.HUGE, huge_bytes=300_000)
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            assert await outcome_of(channel) == "too_large"


@pytest.mark.parametrize("engine", ENGINES)
async def test_another_service_name_is_unimplemented(engine: str) -> None:
    peer = AgentPeer("elsewhere")
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target, service="some.other.Service") as channel:
            assert await outcome_of(channel) == "unimplemented"


@pytest.mark.parametrize("engine", ENGINES)
async def test_garbage_is_handed_back_for_the_caller_to_judge(engine: str) -> None:
    peer = AgentPeer("garbage", AgentBehaviour.GARBAGE)
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            assert await channel.call(payload(), 1.0) == GARBAGE_BYTES


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("engine", ENGINES)
async def test_no_agent_listening_is_unavailable(engine: str) -> None:
    async with channel_to(engine, f"127.0.0.1:{closed_port()}") as channel:
        assert await outcome_of(channel, 0.5) in ("unavailable", "timeout")


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_restarted_agent_is_found_again(engine: str) -> None:
    first = AgentPeer("restarts")
    with AgentPeerServer([first]):
        target = first.target
        channel = channel_for(engine, target, SPEC_SERVICE, LIMIT)
        await channel.call(payload("before"), 1.0)
    try:  # the server is gone, and the connection with it
        assert await outcome_of(channel, 0.2) in ("unavailable", "timeout")
        second = AgentPeer("restarts", port=int(target.rsplit(":", 1)[1]))
        with AgentPeerServer([second]):
            deadline = time.monotonic() + 3.0
            while True:  # found again within gRPC's reconnect backoff (at most a second)
                try:
                    await channel.call(payload("after"), 0.5)
                    break
                except CallFailed:
                    assert time.monotonic() < deadline, "the restarted agent was not found"
                    await asyncio.sleep(0.05)
    finally:
        await channel.close()
    assert [seen.request.id for seen in second.seen] == ["after"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_closed_channel_fails_its_calls_without_raising(engine: str) -> None:
    peer = AgentPeer("closed")
    with AgentPeerServer([peer]):
        async with channel_to(engine, peer.target) as channel:
            await channel.call(payload("open"), 1.0)
            await channel.close()
            assert await outcome_of(channel) == "error"


def test_an_answer_without_status_or_with_a_bad_frame_is_refused() -> None:
    ok = [(b"content-type", b"application/grpc"), (b"grpc-status", b"0")]
    assert message_of(200, ok, b"\x00\x00\x00\x00\x02hi") == b"hi"
    cases = [
        (404, ok, b"", "unimplemented"),
        (503, ok, b"", "unavailable"),
        (500, ok, b"", "error"),
        (200, [], b"\x00\x00\x00\x00\x00", "error"),
        (200, [(b"grpc-status", b"4"), (b"grpc-message", b"late")], b"", "timeout"),
        (200, [(b"grpc-status", b"junk")], b"", "error"),
        (200, ok, b"\x00\x00", "garbage"),
        (200, ok, b"\x01\x00\x00\x00\x02hi", "garbage"),  # compressed, never accepted
        (200, ok, b"\x00\x00\x00\x00\x05hi", "garbage"),  # shorter than it says
        (200, ok, b"\x00\x00\x00\x00\x01hi", "garbage"),  # two messages in a unary answer
    ]
    for status, fields, body, outcome in cases:
        with pytest.raises(CallFailed) as failed:
            message_of(status, fields, body)
        assert failed.value.outcome == outcome, (status, fields, body)


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="lean or grpcio"):
        channel_for("carrier-pigeon", "127.0.0.1:1", SPEC_SERVICE, LIMIT)
