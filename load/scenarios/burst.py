"""``async_burst``: submit many jobs as fast as possible, then wait until all are done.

Submissions use the old API (no ``?wait``: the answer is the job id) at concurrency 16 (see
:data:`~load.generator.MAX_CONCURRENCY`). The
row ``submit`` is submit latency and throughput; the row ``end to end`` is each job's own
``finished_at - created_at``, and the figure ``e2e jobs/s`` counts succeeded jobs over the
time from the first submission to the last finish.
"""

from __future__ import annotations

import time

import httpx

from ..api import create_user, delete_user, register_function, submit
from ..functions import PY_ADD
from ..generator import MAX_CONCURRENCY, drive
from .context import ScenarioContext, ScenarioResult
from .tracking import await_jobs, cancel_jobs, sample_from_records

__all__ = ["async_burst"]

CONCURRENCY = MAX_CONCURRENCY


async def async_burst(ctx: ScenarioContext) -> ScenarioResult:
    """Submit throughput and end-to-end jobs/s of a burst of jobs.

    Cancellation: blocks on the requests; jobs and the user may be left behind.
    """
    total = ctx.count(10_000, 1_000)
    result = ScenarioResult(
        "async_burst", f"submit {total:,} jobs at concurrency {CONCURRENCY}, wait for all"
    )
    user = ctx.user("async_burst")
    job_ids: list[str] = []

    async def submit_one(client: httpx.AsyncClient, index: int) -> bool:
        job_ids.append(await submit(client, user, "add", [index, 1]))
        return True

    async with ctx.client(CONCURRENCY) as client:
        await create_user(client, user)
        await register_function(client, user, "add", PY_ADD)
        started = time.time()
        submitted = await drive(
            client,
            submit_one,
            label="submit",
            total=total,
            concurrency=CONCURRENCY,
            time_limit=ctx.count(120, 6),
            progress=ctx.progress,
        )
        result.samples.append(submitted)
        result.figures["submit/s"] = submitted.summary().throughput
        completion = await await_jobs(
            ctx, client, job_ids, label="complete", time_limit=ctx.count(180, 8)
        )
        e2e = sample_from_records("end to end", completion.records, completion.missing, started)
        result.samples.append(e2e)
        succeeded = len(e2e.latencies_ms)
        result.figures["e2e jobs/s"] = succeeded / e2e.elapsed_s if e2e.elapsed_s > 0 else None
        if completion.missing:
            result.notes.append(f"{completion.missing} jobs were not final in time")
            final = {record.get("id") for record in completion.records}
            left = [job_id for job_id in job_ids if job_id not in final]
            await cancel_jobs(ctx, client, left, label="cancel", time_limit=ctx.count(60, 5))
        await delete_user(client, user)
    return result
