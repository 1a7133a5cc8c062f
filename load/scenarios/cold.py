"""Cold calls: register a new function, then time its first ``run?wait=10``.

Each iteration registers a function no earlier call has seen (new name, new source), so its
first call cannot reuse a warm sandbox. Registration is timed apart (row ``register``); the
row ``first call`` is the cold-call latency the targets are about.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import httpx

from ..api import SetupError, create_user, delete_user, register_function, run_and_wait
from ..functions import node_cold, python_cold
from ..generator import RequestFailed, Sample, drive
from .context import ScenarioContext, ScenarioResult

__all__ = ["cold_node", "cold_python"]


async def _cold(
    ctx: ScenarioContext,
    name: str,
    runtime: str,
    make_function: Callable[[int], tuple[str, str]],
    total: int,
) -> ScenarioResult:
    result = ScenarioResult(
        name, f"register a new {runtime} function, then its first run?wait=10 (sequential)"
    )
    user = ctx.user(name)
    register = Sample(label="register", total=total, concurrency=1)
    first = Sample(label="first call", total=total, concurrency=1)
    reported_cold = 0

    async def register_then_call(client: httpx.AsyncClient, index: int) -> bool:
        nonlocal reported_cold
        fn, source = make_function(index)
        t0 = time.perf_counter()
        try:
            await register_function(client, user, fn, source, runtime=runtime)
        except SetupError:
            register.errors += 1
            register.error_kinds["refused"] += 1
            return False
        t1 = time.perf_counter()
        register.latencies_ms.append((t1 - t0) * 1000)
        try:
            record = await run_and_wait(client, user, fn, [index, 1], 10.0)
        except RequestFailed as exc:
            first.errors += 1
            first.error_kinds[exc.kind] += 1
            return False
        except (httpx.HTTPError, ValueError) as exc:
            first.errors += 1
            first.error_kinds[type(exc).__name__] += 1
            return False
        t2 = time.perf_counter()
        if record.get("value") != index + 1:
            first.errors += 1
            first.error_kinds["unexpected answer"] += 1
            return False
        first.latencies_ms.append((t2 - t1) * 1000)
        reported_cold += record.get("cold_start") is True
        return True

    async with ctx.client(1) as client:
        await create_user(client, user)
        pairs = await drive(
            client,
            register_then_call,
            label=name,
            total=total,
            concurrency=1,
            time_limit=ctx.count(90, 10),
            progress=ctx.progress,
        )
        await delete_user(client, user)
    for sample in (first, register):
        sample.elapsed_s = pairs.elapsed_s
        result.samples.append(sample)
    result.figures["calls reporting cold_start"] = reported_cold
    return result


async def cold_python(ctx: ScenarioContext) -> ScenarioResult:
    """Cold-call latency of new Python functions.

    Cancellation: blocks on the requests; the user may be left registered.
    """
    return await _cold(ctx, "cold_python", "python", python_cold, ctx.count(100, 10))


async def cold_node(ctx: ScenarioContext) -> ScenarioResult:
    """Cold-call latency of new JavaScript functions (skipped when the kit started the
    platform and this machine has no ``node``).

    Cancellation: blocks on the requests; the user may be left registered.
    """
    if ctx.platform is not None and shutil.which("node") is None:
        result = ScenarioResult("cold_node", "new JavaScript function, first call")
        result.failure = "skipped: node is not installed on this machine"
        return result
    return await _cold(ctx, "cold_node", "node", node_cold, ctx.count(50, 5))
