"""Sandbox start and call latency, measured on a :class:`~faas_trio.worker.pool.WarmPool` run
directly (no platform, no HTTP): ``python -m load.sandbox_bench [--cold N] [--warm N]
[--batch-size N] [--batches N]``.

For each runtime it prints p50/p99 of

- *cold*: acquire of a function version never seen before (a new sandbox is started and the
  function loaded) plus its first call; the sandbox is killed after the timing, so no kill
  of a previous one is counted;
- *warm*: acquire of an idle sandbox of the same version plus a call;

and, for a map's path, *batch*: ``--batches`` dispatches of ``--batch-size`` jobs each run
by :func:`~faas_trio.worker.execution.run_batch` in one warm sandbox (one frame out, a reply
frame per job back, an outcome built per job): items per second, and the CPU per item of this
process (the worker's side) and of its sandboxes (read from ``/proc``).

One untimed cold start per runtime comes first, so one-time costs of the worker process
(imports, the first scratch directory) are not counted. It prints figures; it checks nothing.
It runs the sandboxes with the confinement the worker would have here (printed first): run
it as root to measure them as the platform runs them (a uid, cgroups, seccomp each).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import trio

from faas_trio.core.messages import Dispatch
from faas_trio.core.records import Function, JobRecord, JobState, Outcome, Runtime
from faas_trio.worker.execution import BatchItem, run_batch
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.isolation import assess
from faas_trio.worker.sandbox.protocol import CallRequest
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .cpu import process_cpu_seconds
from .stats import percentile

__all__ = ["main"]

_SOURCES = {
    Runtime.PYTHON: "def f(a, b):\n    return a + b\n",
    Runtime.NODE: "function f(a, b) { return a + b; }",
}


def _function(runtime: Runtime, version: int) -> Function:
    return Function(
        user="bench",
        name=f"f_{runtime.value}",
        source=_SOURCES[runtime],
        runtime=runtime,
        timeout=10.0,
        memory_mb=128,
        version=version,
    )


async def _acquire_and_call(pool: WarmPool, function: Function, *, keep: bool) -> float:
    """Milliseconds for acquire + one call; the sandbox is then released (kept warm if
    ``keep``, else killed) outside the timing.

    Cancellation: the sandbox in use is killed and reaped (see :meth:`WarmPool.release`).
    """
    started = time.perf_counter()
    lease = await pool.acquire(function)
    reusable = False
    try:
        call = CallRequest(args="[4, 7]", timeout=10.0, result_cap=1 << 20)
        reply = await lease.sandbox.request(call)
        elapsed = (time.perf_counter() - started) * 1000.0
        if reply.text != "11":
            raise RuntimeError(f"unexpected reply {reply!r}")
        reusable = keep
    finally:
        await pool.release(lease, reusable=reusable)
    return elapsed


async def _batches(pool: WarmPool, function: Function, size: int, count: int) -> None:
    """Run ``count`` batches of ``size`` jobs (one untimed first) and print the figures.

    Cancellation: the sandbox in use is killed (see :func:`run_batch`).
    """
    outcomes: list[Outcome] = []

    async def keep(outcome: Outcome) -> None:
        outcomes.append(outcome)

    def batch(number: int) -> list[BatchItem]:
        jobs = [
            JobRecord(id=f"b{number}-{i}", user=function.user, function=function.name,
                      runtime=function.runtime, args=f"[{i}, 7]", attempts=1)
            for i in range(size)
        ]  # fmt: skip
        return [BatchItem(Dispatch(job=job, function=function)) for job in jobs]

    await run_batch(pool, batch(0), keep, log_cap=4096, result_cap=1 << 20)
    own, children = time.process_time(), process_cpu_seconds(os.getpid(), below=True)
    started = time.perf_counter()
    for number in range(1, count + 1):
        await run_batch(pool, batch(number), keep, log_cap=4096, result_cap=1 << 20)
    elapsed = time.perf_counter() - started
    own = time.process_time() - own
    children = process_cpu_seconds(os.getpid(), below=True) - children
    if any(outcome.state is not JobState.SUCCEEDED for outcome in outcomes):
        raise RuntimeError(f"a job of the batches did not succeed: {outcomes[-1]!r}")
    items = size * count
    print(
        f"{function.runtime.value:7} batch  n={items:5}  {items / elapsed:8.0f} items/s"
        f"  worker {own * 1000 / items:.3f} ms/item  sandbox {children * 1000 / items:.3f}"
        f" ms/item  ({count} batches of {size})",
        flush=True,
    )


async def _measure(
    settings: SpawnSettings, runtime: Runtime, cold: int, warm: int, batches: tuple[int, int]
) -> None:
    """Cancellation: the pool's sandboxes are killed and reaped."""
    async with trio.open_nursery() as nursery:
        pool = WarmPool(
            nursery, settings, ttl=600.0, max_warm=4, init_timeout=10.0, default_memory_mb=128
        )
        try:
            await _acquire_and_call(pool, _function(runtime, 0), keep=False)
            colds = [
                await _acquire_and_call(pool, _function(runtime, version), keep=False)
                for version in range(1, cold + 1)
            ]
            warm_function = _function(runtime, cold + 1)
            await _acquire_and_call(pool, warm_function, keep=True)
            warms = [await _acquire_and_call(pool, warm_function, keep=True) for _ in range(warm)]
            if batches[1]:
                await _batches(pool, warm_function, *batches)
        finally:
            await pool.aclose()
        nursery.cancel_scope.cancel()
    for label, values in (("cold", colds), ("warm", warms)):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(
            f"{runtime.value:7} {label}  n={len(values):5}  p50={p50:8.2f} ms  p99={p99:8.2f} ms"
            f"  max={max(values):8.2f} ms",
            flush=True,
        )


async def _run(settings: SpawnSettings, cold: int, warm: int, batches: tuple[int, int]) -> None:
    """Cancellation: stops between measurements; every sandbox is killed and reaped."""
    print(f"python: {settings.python}  node: {settings.node}")
    for runtime in (Runtime.PYTHON, Runtime.NODE):
        if runtime is Runtime.NODE and settings.node is None:
            print("node    skipped: not installed")
            continue
        await _measure(settings, runtime, cold, warm, batches)


def main() -> None:
    """Parse the options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=200, help="cold starts per runtime")
    parser.add_argument("--warm", type=int, default=2000, help="warm calls per runtime")
    parser.add_argument("--batch-size", type=int, default=64, help="jobs per batch")
    parser.add_argument("--batches", type=int, default=100, help="batches per runtime (0: none)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the runners' python")
    args = parser.parse_args()
    node = shutil.which("node")
    # The confinement the worker would run with here (cgroups, seccomp, namespaces…).
    isolation = assess("strict", args.python)
    print(isolation.describe())
    if isolation.missing():
        print("missing:", "; ".join(isolation.missing()))
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as scratch:
        settings = SpawnSettings(
            python=args.python,
            node=os.path.realpath(node) if node else None,
            scratch_root=Path(scratch),
            log_cap=4096,
            mode=isolation.mode,
            cgroups=isolation.cgroups,
        )
        try:
            trio.run(_run, settings, args.cold, args.warm, (args.batch_size, args.batches))
        finally:
            if isolation.cgroups is not None:
                isolation.cgroups.remove()


if __name__ == "__main__":
    main()
