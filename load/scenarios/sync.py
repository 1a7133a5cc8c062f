"""Synchronous calls: the bare baseline app, and warm ``run?wait=10`` calls at 1 and 16.

``baseline`` starts :mod:`load.baseline_app` itself and drives ``GET /`` at concurrency 1 and
16; the warm scenarios register one function once, warm it up, then time each call of it.
"""

from __future__ import annotations

import httpx

from ..api import create_user, delete_user, envelope, register_function, run_and_wait
from ..functions import PY_ADD
from ..generator import drive, open_client
from ..processes import running_baseline
from .context import ScenarioContext, ScenarioResult

__all__ = ["baseline", "warm_sync_c1", "warm_sync_c16"]

#: ``?wait=`` of every sync call.
SYNC_WAIT = 10.0


async def baseline(ctx: ScenarioContext) -> ScenarioResult:
    """Throughput and latency of the bare app at concurrency 1 and 16 (rows ``c1``, ``c16``).

    Cancellation: blocks on the requests; the app is stopped before the cancel propagates.
    """
    result = ScenarioResult(
        "baseline", "bare quart-trio app on hypercorn, GET / (the ceiling for sync calls)"
    )

    async def get_root(client: httpx.AsyncClient, index: int) -> bool:
        ok, res = envelope(await client.get("/"))
        return ok and res == 1

    async with running_baseline() as url:
        for concurrency, total in ((1, ctx.count(3000, 300)), (16, ctx.count(20000, 2000))):
            limit = ctx.count(60, 2 if concurrency == 1 else 3)
            async with open_client(url, concurrency) as client:
                # Warm the connection pool so the first requests do not pay for connects.
                await drive(
                    client,
                    get_root,
                    label="warmup",
                    total=concurrency * 4,
                    concurrency=concurrency,
                    time_limit=10,
                    progress=False,
                )
                sample = await drive(
                    client,
                    get_root,
                    label=f"c{concurrency}",
                    total=total,
                    concurrency=concurrency,
                    time_limit=limit,
                    progress=ctx.progress,
                )
            result.samples.append(sample)
            result.figures[f"throughput_c{concurrency}"] = sample.summary().throughput
    return result


async def _warm_sync(ctx: ScenarioContext, name: str, concurrency: int) -> ScenarioResult:
    result = ScenarioResult(
        name, f"one warm Python function, run?wait={SYNC_WAIT:g}, concurrency {concurrency}"
    )
    user = ctx.user(name)

    async def call_add(client: httpx.AsyncClient, index: int) -> bool:
        record = await run_and_wait(client, user, "add", [index, 1], SYNC_WAIT)
        return record.get("value") == index + 1

    async with ctx.client(concurrency) as client:
        await create_user(client, user)
        await register_function(client, user, "add", PY_ADD)
        warmup = await drive(
            client,
            call_add,
            label="warmup",
            total=max(20, concurrency * 4) if not ctx.quick else concurrency * 2,
            concurrency=concurrency,
            time_limit=ctx.count(30, 5),
            progress=False,
        )
        if warmup.errors:
            result.notes.append(f"{warmup.errors} of {warmup.total} warm-up calls failed")
        total = ctx.count(2000, 200) if concurrency == 1 else ctx.count(10000, 1000)
        sample = await drive(
            client,
            call_add,
            label=f"c{concurrency}",
            total=total,
            concurrency=concurrency,
            time_limit=ctx.count(60, 3 if concurrency == 1 else 4),
            progress=ctx.progress,
        )
        result.samples.append(sample)
        result.figures["throughput"] = sample.summary().throughput
        await delete_user(client, user)
    return result


async def warm_sync_c1(ctx: ScenarioContext) -> ScenarioResult:
    """Latency of sequential warm sync calls.

    Cancellation: blocks on the requests; the user may be left registered.
    """
    return await _warm_sync(ctx, "warm_sync_c1", 1)


async def warm_sync_c16(ctx: ScenarioContext) -> ScenarioResult:
    """Throughput and latency of warm sync calls, 16 at a time.

    Cancellation: blocks on the requests; the user may be left registered.
    """
    return await _warm_sync(ctx, "warm_sync_c16", 16)
