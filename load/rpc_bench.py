"""What CurveZMQ costs a component link: ``python -m load.rpc_bench [--calls N]``.

A ``Ping`` server (:func:`faas_trio.core.rpc.serve_rpc`) and a client in one process, over
TCP on 127.0.0.1, first as plain ZeroMQ and then with CurveZMQ (keys made for the run, the
server checking the client's key through its ZAP handler). For each it prints the p50/p99
latency of sequential calls and the calls per second of 16 callers at once, and the time a
new connection takes to answer its first call (the handshake, plus the ZAP check with
CurveZMQ). It prints figures; it checks nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import trio

from faas_trio.core.curve import CurveIdentity, ensure_keys, identity_from_env
from faas_trio.core.messages import Message, Ping, Pong
from faas_trio.core.rpc import open_client, serve_rpc

CONCURRENCY = 16


async def _pong(request: Message) -> Message:
    return Pong(component="bench")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    calls: int, server: CurveIdentity | None, client: CurveIdentity | None
) -> dict[str, float]:
    async with trio.open_nursery() as nursery:
        endpoint = await nursery.start(
            partial(serve_rpc, "tcp://127.0.0.1:*", _pong, identity=server)
        )
        first = []
        for _ in range(20):
            began = time.perf_counter()
            async with open_client(endpoint, peer="jqmanager", identity=client) as fresh:
                await fresh.call(Ping())
            first.append(time.perf_counter() - began)
        async with open_client(endpoint, peer="jqmanager", identity=client) as rpc:
            for _ in range(200):  # warm up
                await rpc.call(Ping())
            latencies = []
            for _ in range(calls):
                began = time.perf_counter()
                await rpc.call(Ping())
                latencies.append(time.perf_counter() - began)

            async def caller(count: int) -> None:
                for _ in range(count):
                    await rpc.call(Ping())

            began = time.perf_counter()
            async with trio.open_nursery() as callers:
                for _ in range(CONCURRENCY):
                    callers.start_soon(caller, calls // CONCURRENCY)
            rate = (calls // CONCURRENCY) * CONCURRENCY / (time.perf_counter() - began)
        nursery.cancel_scope.cancel()
    return {
        "p50_ms": _percentile(latencies, 0.5) * 1e3,
        "p99_ms": _percentile(latencies, 0.99) * 1e3,
        "calls_per_s": rate,
        "connect_ms": _percentile(first, 0.5) * 1e3,
    }


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as keys:
        ensure_keys(Path(keys))
        env = {"FAAS_CURVE_KEYS": keys}
        server = identity_from_env("jqmanager", env)
        client = identity_from_env("worker", env)
    print(f"{calls} sequential Ping calls, then {CONCURRENCY} callers at once, in one process")
    for label, ids in (("plain", (None, None)), ("CurveZMQ", (server, client))):
        got = await _measure(calls, *ids)
        print(
            f"{label:9s} p50 {got['p50_ms']:.3f} ms  p99 {got['p99_ms']:.3f} ms  "
            f"{got['calls_per_s']:,.0f} calls/s at {CONCURRENCY}  "
            f"first call on a new connection {got['connect_ms']:.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    trio.run(main, parser.parse_args().calls)
