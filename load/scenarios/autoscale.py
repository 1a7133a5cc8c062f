"""``mixed_autoscale``: an open-loop mix of slow (1 s) and fast jobs, to watch the scaler.

For ``duration`` seconds the kit submits fast and slow jobs at fixed rates, more slow work
than a few workers can take, so the queue grows and the scaler should add workers; then it
waits for the queue to drain (bounded) and cancels what is left. ``/metrics`` is sampled the
whole time for the queue length and the worker count. If the platform cannot take
submissions as fast as they are due, the excess is dropped (counted, never queued up in the
kit), so the run stays bounded.
"""

from __future__ import annotations

import time

import httpx
import trio

from ..api import create_user, delete_user, register_function, submit
from ..functions import PY_ADD, PY_NAP
from ..generator import MAX_CONCURRENCY, RequestFailed, Sample
from ..metrics_probe import MetricsSeries, sample_metrics
from .context import ScenarioContext, ScenarioResult
from .tracking import await_jobs, cancel_jobs, sample_from_records

__all__ = ["submit_mix", "mixed_autoscale"]

FAST_PER_S = 40.0
SLOW_PER_S = 8.0
SLOW_SECONDS = 1.0
TICK = 0.1
CONCURRENCY = MAX_CONCURRENCY


async def submit_mix(
    ctx: ScenarioContext, client: httpx.AsyncClient, user: str, duration: float
) -> tuple[Sample, list[str], list[str], int]:
    """Submit the mix for ``duration`` s: ``(submit sample, fast ids, slow ids, dropped)``.

    Cancellation: blocks while submitting; submitted jobs stay queued.
    """
    sample = Sample(label="submit", total=0, concurrency=CONCURRENCY)
    fast: list[str] = []
    slow: list[str] = []
    dropped = 0
    limiter = trio.CapacityLimiter(CONCURRENCY)
    started = time.perf_counter()

    async def submit_one(kind: str) -> None:
        async with limiter:
            t0 = time.perf_counter()
            try:
                if kind == "slow":
                    job_id = await submit(client, user, "nap", [SLOW_SECONDS])
                else:
                    job_id = await submit(client, user, "add", [1, 2])
            except RequestFailed as exc:
                sample.errors += 1
                sample.error_kinds[exc.kind] += 1
                return
            except (httpx.HTTPError, ValueError) as exc:
                sample.errors += 1
                sample.error_kinds[type(exc).__name__] += 1
                return
            t1 = time.perf_counter()
            sample.finish_offsets.append(t1 - started)
            sample.latencies_ms.append((t1 - t0) * 1000)
            (slow if kind == "slow" else fast).append(job_id)

    due = {"fast": 0.0, "slow": 0.0}
    # Ticks are timed on trio's clock, which is not perf_counter's (it has its own offset).
    ticks_started = trio.current_time()
    async with trio.open_nursery() as nursery:
        ticks = int(duration / TICK)
        for tick in range(ticks):
            due["fast"] += FAST_PER_S * TICK
            due["slow"] += SLOW_PER_S * TICK
            for kind in ("slow", "fast"):
                while due[kind] >= 1:
                    due[kind] -= 1
                    sample.total += 1
                    # Statistics of a busy limiter say the platform is behind: drop, do not pile up.
                    if limiter.statistics().tasks_waiting >= CONCURRENCY:
                        dropped += 1
                        continue
                    nursery.start_soon(submit_one, kind)
            await trio.sleep_until(ticks_started + (tick + 1) * TICK)
    sample.elapsed_s = time.perf_counter() - started
    return sample, fast, slow, dropped


async def mixed_autoscale(ctx: ScenarioContext) -> ScenarioResult:
    """End-to-end latency of fast and slow jobs under a load that should make the scaler act.

    Cancellation: blocks on the requests; jobs and the user may be left behind.
    """
    duration = float(ctx.count(30, 6))
    result = ScenarioResult(
        "mixed_autoscale",
        f"{FAST_PER_S:g} fast + {SLOW_PER_S:g} slow ({SLOW_SECONDS:g} s) jobs/s for "
        f"{duration:g} s, then drain",
    )
    user = ctx.user("mixed_autoscale")
    series = MetricsSeries()
    result.metrics = series
    async with ctx.client(CONCURRENCY + 1) as client:
        await create_user(client, user)
        await register_function(client, user, "add", PY_ADD)
        await register_function(client, user, "nap", PY_NAP, runtime="python")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample_metrics, client, series)
            started = time.time()
            submitted, fast, slow, dropped = await submit_mix(ctx, client, user, duration)
            result.samples.append(submitted)
            result.figures["dropped submissions"] = dropped
            completion = await await_jobs(
                ctx, client, fast + slow, label="drain", time_limit=ctx.count(90, 8)
            )
            nursery.cancel_scope.cancel()
        slow_ids = set(slow)
        for label, records in (
            ("fast jobs", [r for r in completion.records if r.get("id") not in slow_ids]),
            ("slow jobs", [r for r in completion.records if r.get("id") in slow_ids]),
        ):
            expected = len(slow) if label == "slow jobs" else len(fast)
            result.samples.append(
                sample_from_records(label, records, expected - len(records), started)
            )
        if completion.missing:
            final = {record.get("id") for record in completion.records}
            left = [job_id for job_id in fast + slow if job_id not in final]
            result.notes.append(f"{len(left)} jobs were not final after the drain limit")
            await cancel_jobs(ctx, client, left, label="cancel", time_limit=ctx.count(30, 5))
        await delete_user(client, user)
    if not series.available:
        result.notes.append("GET /metrics answered 404: no queue or worker series")
    else:
        workers = [w for w in series.workers if w is not None]
        queue = [q for q in series.queue_length if q is not None]
        result.figures["max workers"] = max(workers, default=None)
        result.figures["max queue length"] = max(queue, default=None)
    return result
