"""Relay a Unix socket to a TCP address: run on a namespace host, it lets a process outside
that namespace speak to its network without giving the machine's own namespace a route.

    ip netns exec NAME-client python tests/multihost/relay.py /tmp/x.sock 10.199.1.2 8080

Unix sockets are found by path, whatever the network namespace, so ``httpx`` with
``transport=httpx.AsyncHTTPTransport(uds=...)`` (or ``curl --unix-socket``) reaches the
frontend from the client host. Runs until SIGTERM or SIGINT; prints ``relay ready`` once
listening.
"""

from __future__ import annotations

import contextlib
import os
import sys

import trio


async def _pipe(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
        await sink.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def _relay(host: str, port: int, downstream: trio.SocketStream) -> None:
    try:
        with trio.fail_after(5):
            upstream = await trio.open_tcp_stream(host, port)
    except (OSError, trio.TooSlowError):
        await downstream.aclose()
        return
    async with downstream, upstream, trio.open_nursery() as nursery:
        nursery.start_soon(_pipe, downstream, upstream)
        nursery.start_soon(_pipe, upstream, downstream)


async def main(path: str, host: str, port: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen(128)
    listener = trio.SocketListener(sock)
    print("relay ready", flush=True)
    async with trio.open_nursery() as nursery:
        while True:
            stream = await listener.accept()
            nursery.start_soon(_relay, host, port, stream)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
