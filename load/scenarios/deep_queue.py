"""``deep_queue``: enqueue latency and jqmanager memory as the queue grows deep.

First come jobs of a function that sleeps, more than enough to hold every worker slot the
platform may have (``ctx.max_slots``) busy, so that the no-op jobs enqueued after them stay
queued: the queue depth is then the number of jobs submitted. Enqueue latency is compared
between the first and the last 1,000 submissions (the two halves of a shorter run). When the
kit started the platform, jqmanager's resident memory (``VmRSS``) is read before and after,
and the growth divided by the depth gives bytes per queued job. At the end the blockers are
cancelled, the queue is given a bounded time to drain, and any job still there is cancelled
(also bounded).
"""

from __future__ import annotations

import time

import httpx
import trio

from ..api import create_user, delete_user, register_function, submit, wait_for_job
from ..functions import PY_NAP
from ..generator import drive
from ..metrics_probe import parse_metrics, queue_length
from ..processes import find_jqmanager_pid, vm_rss_bytes
from ..stats import percentile
from .context import ScenarioContext, ScenarioResult
from .tracking import cancel_jobs

__all__ = ["deep_queue"]

#: Sleeping jobs submitted beyond the platform's slot count, in case a slot is miscounted.
SPARE_BLOCKERS = 16
CONCURRENCY = 16
#: Submissions compared at the start and at the end of the queue's growth (the p50 of each).
WINDOW = 1000


async def _queue_length(client: httpx.AsyncClient) -> float | None:
    try:
        response = await client.get("/metrics", timeout=5.0)
    except httpx.HTTPError:
        return None
    return queue_length(parse_metrics(response.text)) if response.is_success else None


async def _sample_rss(pid: int, depth: list[int], series: tuple[list[float], list[float]]) -> None:
    """Append (depth, RSS MB) every second until cancelled."""
    while True:
        rss = vm_rss_bytes(pid)
        if rss is not None:
            series[0].append(float(depth[0]))
            series[1].append(rss / 2**20)
        await trio.sleep(1.0)


async def deep_queue(ctx: ScenarioContext) -> ScenarioResult:
    """Enqueue latency at depth versus at an empty queue, and memory per queued job.

    Cancellation: blocks on the requests; sleeping blockers (bounded by their own timeout)
    and queued jobs may be left behind.
    """
    total = ctx.count(100_000, 5_000)
    enqueue_limit = float(ctx.count(300, 10))
    hold = enqueue_limit + 30
    blocker_count = ctx.max_slots + SPARE_BLOCKERS
    result = ScenarioResult(
        "deep_queue", f"{blocker_count} sleeping jobs hold the workers, then {total:,} no-op jobs"
    )
    user = ctx.user("deep_queue")
    blockers: list[str] = []
    queued: list[str] = []
    depth = [0]

    async def submit_blocker(client: httpx.AsyncClient, index: int) -> bool:
        blockers.append(await submit(client, user, "nap", [hold]))
        return True

    async def submit_noop(client: httpx.AsyncClient, index: int) -> bool:
        queued.append(await submit(client, user, "nap", [0]))
        depth[0] += 1
        return True

    async with ctx.client(64) as client:
        await create_user(client, user)
        await register_function(
            client, user, "nap", PY_NAP, runtime="python", function_timeout=hold + 10
        )
        await drive(
            client,
            submit_blocker,
            label="blockers",
            total=blocker_count,
            concurrency=16,
            time_limit=ctx.count(30, 10),
            progress=False,
        )
        pid = find_jqmanager_pid(ctx.platform.pid) if ctx.platform is not None else None
        rss_before = vm_rss_bytes(pid) if pid is not None else None
        rss_series: tuple[list[float], list[float]] = ([], [])
        async with trio.open_nursery() as nursery:
            if pid is not None:
                nursery.start_soon(_sample_rss, pid, depth, rss_series)
            enqueue = await drive(
                client,
                submit_noop,
                label="enqueue",
                total=total,
                concurrency=CONCURRENCY,
                time_limit=enqueue_limit,
                progress=ctx.progress,
            )
            nursery.cancel_scope.cancel()
        result.samples.append(enqueue)
        rss_after = vm_rss_bytes(pid) if pid is not None else None
        reported = await _queue_length(client)
        result.figures["depth reached"] = depth[0]
        result.figures["queue length (metrics)"] = reported
        # A short run compares its halves rather than overlapping windows.
        window = min(WINDOW, len(enqueue.latencies_ms) // 2)
        first = percentile(enqueue.latencies_ms[:window], 50) if window else None
        last = percentile(enqueue.latencies_ms[-window:], 50) if window else None
        result.figures["window (submissions)"] = window
        result.figures["enqueue p50 first window (ms)"] = first
        result.figures["enqueue p50 last window (ms)"] = last
        result.figures["enqueue p50 last/first"] = last / first if first and last else None
        if pid is None:
            result.notes.append("jqmanager memory not measured (the kit did not start it)")
        elif rss_before is not None and rss_after is not None and depth[0]:
            result.figures["jqmanager RSS before (MB)"] = rss_before / 2**20
            result.figures["jqmanager RSS after (MB)"] = rss_after / 2**20
            result.figures["jqmanager bytes per queued job"] = (rss_after - rss_before) / depth[0]
            result.series["jqmanager RSS vs depth"] = (*rss_series, "queued jobs", "RSS (MB)")
        # Free the workers, then give the queue a bounded time to drain.
        await cancel_jobs(ctx, client, blockers, label="release", time_limit=ctx.count(30, 5))
        drain_started = time.perf_counter()
        drained = None
        if queued:
            drained = await wait_for_job(
                client, queued[-1], poll_wait=10.0, time_limit=ctx.count(120, 5)
            )
        if drained is not None:
            drain_s = time.perf_counter() - drain_started
            result.figures["drain jobs/s"] = len(queued) / drain_s
        elif queued:
            result.notes.append("the queue did not drain in time: cancelling what is left")
            cancelled = await cancel_jobs(
                ctx, client, queued[::-1], label="cancel", time_limit=ctx.count(60, 5)
            )
            result.figures["jobs cancelled after the drain limit"] = cancelled
        await delete_user(client, user)
    return result
