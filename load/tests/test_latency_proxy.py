"""load.latency_proxy: each request and its answer take the delay more."""

from __future__ import annotations

import time

import trio

from load.latency_proxy import serve_proxy

DELAY = 0.05


async def _echo(stream: trio.SocketStream) -> None:
    async with stream:
        while data := await stream.receive_some(1024):
            await stream.send_all(data)


async def _round_trip(stream: trio.SocketStream, *parts: bytes) -> float:
    began = time.perf_counter()
    for part in parts:
        await stream.send_all(part)
        await trio.sleep(DELAY / 5)
    data = b"".join(parts)
    got = b""
    while len(got) < len(data):
        got += await stream.receive_some(1024)
    assert got == data
    return time.perf_counter() - began


async def test_a_round_trip_takes_the_delay_more(nursery: trio.Nursery) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    echo_port = listeners[0].socket.getsockname()[1]
    nursery.start_soon(trio.serve_listeners, _echo, listeners)
    port = await nursery.start(serve_proxy, ("127.0.0.1", echo_port), DELAY)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        with trio.fail_after(10):
            first = await _round_trip(stream, b"ping")
            # Two messages on one connection: each is held back, then both answered.
            both = await _round_trip(stream, b"a" * 10, b"b" * 10)
    assert first >= DELAY
    assert both >= DELAY
