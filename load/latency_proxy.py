"""A TCP proxy that delays what it forwards: a network with a round-trip time, on loopback.

``python -m load.latency_proxy TARGET_HOST:TARGET_PORT [--delay-ms 1] [--port 0]`` listens on
127.0.0.1 (a free port unless given), prints ``PROXY=127.0.0.1:<port>`` once it accepts
connections, and forwards every connection to the target, holding each chunk of bytes sent
*to the target* for the delay before passing it on; the answers come back at once. A request
and its answer therefore take the delay more than they would directly, as one round trip over
a network would, and requests pipelined on one connection are each delayed once, not one
after the other. It runs until SIGTERM or SIGINT.

The load kit puts it between the dbmanager and the MongoDB-protocol test server, to show what
a store's round trips cost where the database is across a network.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Sequence
from functools import partial

import trio

__all__ = ["forward_delayed", "serve_proxy"]

_CHUNK = 65536


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, delay: float) -> None:
    """Copy ``source`` to ``sink``, each chunk sent ``delay`` s after it arrived, in order.

    Cancellation: stops copying; chunks in flight are dropped.
    """
    send, receive = trio.open_memory_channel[tuple[float, bytes]](math.inf)

    async def deliver() -> None:
        async for due, data in receive:
            await trio.sleep_until(due)
            await sink.send_all(data)
        await sink.send_eof()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(deliver)
        async with send:
            while data := await source.receive_some(_CHUNK):
                await send.send((trio.current_time() + delay, data))


async def forward_delayed(client: trio.SocketStream, target: tuple[str, int], delay: float) -> None:
    """Join ``client`` to a new connection to ``target``, delaying what goes to it.

    Cancellation: closes both connections.
    """
    try:
        server = await trio.open_tcp_stream(*target)
    except OSError:
        await client.aclose()
        return
    async with client, server:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, client, server, delay)
                nursery.start_soon(_pump, server, client, 0.0)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # one side went away: the other is closed on the way out


async def serve_proxy(
    target: tuple[str, int],
    delay: float,
    port: int = 0,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy on 127.0.0.1:``port`` until cancelled; ``task_status.started(port)``
    with the port bound.

    Cancellation: closes the listener and every connection.
    """
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(partial(forward_delayed, target=target, delay=delay), listeners)


async def _main(target: tuple[str, int], delay: float, port: int) -> None:
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_proxy, target, delay, port)
        print(f"PROXY=127.0.0.1:{bound}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.latency_proxy", description=__doc__)
    parser.add_argument("target", help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="added per round trip")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    if not host or not port.isdigit():
        parser.error("target must be HOST:PORT")
    trio.run(_main, (host, int(port)), args.delay_ms / 1000.0, args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
