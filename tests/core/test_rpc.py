"""The RPC core over real ZeroMQ sockets on loopback."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
import trio
import zmq

from faas_trio.core import messages as m
from faas_trio.core import wire
from faas_trio.core.errors import InternalError, NotFound, PeerUnavailable, ProtocolError
from faas_trio.core.records import User
from faas_trio.core.rpc import open_client, serve_rpc


async def echo_handler(request: m.Message) -> m.Message:
    if isinstance(request, m.Ping):
        return m.Pong(component="echo")
    if isinstance(request, m.GetUser):
        if request.name == "missing":
            raise NotFound("user 'missing' not found")
        if request.name == "boom":
            raise RuntimeError("a bug")
        if request.name.startswith("sleep"):
            await trio.sleep(float(request.name.removeprefix("sleep")))
        return m.UserReply(user=User(name=request.name))
    raise AssertionError(f"unexpected {request!r}")


async def start_echo(nursery: trio.Nursery, endpoint: str = "tcp://127.0.0.1:*") -> str:
    bound: str = await nursery.start(serve_rpc, endpoint, echo_handler)
    return bound



async def test_round_trip(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    assert endpoint.startswith("tcp://127.0.0.1:")
    async with open_client(endpoint) as client:
        assert await client.call(m.Ping()) == m.Pong(component="echo")
        reply = await client.call(m.GetUser(name="ann"))
        assert isinstance(reply, m.UserReply) and reply.user.name == "ann"


async def test_many_concurrent_calls_find_their_callers(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    results: dict[int, str] = {}
    async with open_client(endpoint) as client:

        async def one(i: int) -> None:
            reply = await client.call(m.GetUser(name=f"user{i}"))
            assert isinstance(reply, m.UserReply)
            results[i] = reply.user.name

        async with trio.open_nursery() as calls:
            for i in range(500):
                calls.start_soon(one, i)
    assert results == {i: f"user{i}" for i in range(500)}


async def test_held_reply_does_not_block_others(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    async with open_client(endpoint) as client:
        order: list[str] = []

        async def slow() -> None:
            await client.call(m.GetUser(name="sleep0.5"))
            order.append("slow")

        async with trio.open_nursery() as calls:
            calls.start_soon(slow)
            await trio.sleep(0.05)
            await client.call(m.Ping())
            order.append("fast")
        assert order == ["fast", "slow"]


async def test_errors_cross_as_their_own_type(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    async with open_client(endpoint) as client:
        with pytest.raises(NotFound, match="user 'missing' not found"):
            await client.call(m.GetUser(name="missing"))
        with pytest.raises(InternalError):
            await client.call(m.GetUser(name="boom"))
        # the server survived both
        assert await client.call(m.Ping()) == m.Pong(component="echo")


async def test_timeout_raises_peer_unavailable_and_client_stays_usable(
    nursery: trio.Nursery,
) -> None:
    endpoint = await start_echo(nursery)
    async with open_client(endpoint) as client:
        with pytest.raises(PeerUnavailable):
            await client.call(m.GetUser(name="sleep1"), timeout=0.1)
        assert await client.call(m.Ping()) == m.Pong(component="echo")


async def test_cancelled_call_leaves_client_usable(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    async with open_client(endpoint) as client:
        with trio.move_on_after(0.1) as scope:
            await client.call(m.GetUser(name="sleep0.3"))
        assert scope.cancelled_caught
        await trio.sleep(0.4)  # let the late reply arrive and be dropped
        reply = await client.call(m.GetUser(name="after"))
        assert isinstance(reply, m.UserReply) and reply.user.name == "after"


async def test_peer_down_times_out_then_recovers_when_it_starts(
    free_ports: Callable[[int], list[int]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    async with open_client(endpoint) as client:
        with pytest.raises(PeerUnavailable):
            await client.call(m.Ping(), timeout=0.2)
        async with trio.open_nursery() as nursery:
            await start_echo(nursery, endpoint)
            reply = await client.call_retrying(m.Ping(), deadline=10, attempt_timeout=0.5)
            assert reply == m.Pong(component="echo")
            nursery.cancel_scope.cancel()


async def test_peer_restart_on_same_port(free_ports: Callable[[int], list[int]]) -> None:
    endpoint = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    async with open_client(endpoint) as client:
        for _ in range(2):
            async with trio.open_nursery() as nursery:
                await start_echo(nursery, endpoint)
                assert await client.call_retrying(m.Ping(), deadline=10) == m.Pong(
                    component="echo"
                )
                nursery.cancel_scope.cancel()
            with pytest.raises(PeerUnavailable):
                await client.call(m.Ping(), timeout=0.2)


async def test_a_message_is_one_frame_of_header_and_body(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.RCVTIMEO, 5000)
    raw.connect(endpoint)
    try:
        await trio.to_thread.run_sync(raw.send, bytes(wire.encode_message(41, m.Ping())))
        frames = await trio.to_thread.run_sync(raw.recv_multipart)
    finally:
        raw.close()
    assert len(frames) == 1
    assert wire.decode_message(frames[0]) == (41, m.Pong(component="echo"))


async def test_malformed_requests_get_error_replies(nursery: trio.Nursery) -> None:
    endpoint = await start_echo(nursery)
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.RCVTIMEO, 5000)
    raw.connect(endpoint)
    try:
        cases = [
            wire.encode_header(7) + b"\xc1 not msgpack",
            wire.encode_header(8) + wire.encode_body(m.Pong(component="x"))[:3],
            b"\x09" + wire.encode_header(9)[1:] + wire.encode_body(m.Ping()),  # other version
            b"\x02\x00",  # shorter than a header
        ]
        for frame in cases:
            await trio.to_thread.run_sync(raw.send, frame)
            (reply_frame,) = await trio.to_thread.run_sync(raw.recv_multipart)
            # answered under the request's own header (its id), as far as it has one
            header = frame[: wire.HEADER_SIZE]
            assert reply_frame[: len(header)] == header
            reply = wire.decode_body(reply_frame[len(header) :])
            assert isinstance(reply, m.ErrorReply) and reply.code == ProtocolError.code
        # a message of the wrong shape (two frames, the old protocol's) is dropped, and the
        # server lives on
        await trio.to_thread.run_sync(
            raw.send_multipart, [wire.encode_header(10), wire.encode_body(m.Ping())]
        )
    finally:
        raw.close()
    async with open_client(endpoint) as client:
        assert await client.call(m.Ping()) == m.Pong(component="echo")


async def test_server_cancel_closes_socket_so_port_can_be_reused(
    free_ports: Callable[[int], list[int]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    for _ in range(3):
        async with trio.open_nursery() as nursery:
            await start_echo(nursery, endpoint)
            nursery.cancel_scope.cancel()
        # A plain bind, without serve_rpc's wait for a port still in use: only ZeroMQ's own
        # asynchronous close may delay it, briefly.
        raw = zmq.Context.instance().socket(zmq.ROUTER)
        try:
            with trio.fail_after(1.0):
                while True:
                    try:
                        raw.bind(endpoint)
                        break
                    except zmq.ZMQError:
                        await trio.sleep(0.01)
        finally:
            raw.close(linger=0)


async def test_a_reply_whose_client_is_gone_is_handed_to_on_undelivered(
    nursery: trio.Nursery,
) -> None:
    undelivered: list[tuple[m.Message, m.Message]] = []
    got = trio.Event()

    def on_undelivered(request: m.Message, reply: m.Message) -> None:
        undelivered.append((request, reply))
        got.set()

    endpoint: str = await nursery.start(
        partial(serve_rpc, "tcp://127.0.0.1:*", echo_handler, on_undelivered=on_undelivered)
    )
    async with open_client(endpoint) as client:
        with trio.move_on_after(0.2):
            await client.call(m.GetUser(name="sleep0.5"))  # given up; then the client closes
    with trio.fail_after(5):
        await got.wait()
    assert undelivered == [
        (m.GetUser(name="sleep0.5"), m.UserReply(user=User(name="sleep0.5")))
    ]
    async with open_client(endpoint) as client:  # the server still serves
        assert await client.call(m.Ping()) == m.Pong(component="echo")
    assert len(undelivered) == 1  # a delivered reply is not reported
