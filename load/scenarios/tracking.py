"""Waiting for many queued jobs to finish, and building samples from their records.

End-to-end latency is the job's own ``finished_at - created_at``: the kit only targets
loopback addresses, so the platform's clock is the kit's clock, and a waiter that noticed a
completion late does not distort the figure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..api import cancel_job, wait_for_job
from ..generator import Sample, drive
from .context import ScenarioContext

__all__ = ["Completion", "await_jobs", "cancel_jobs", "sample_from_records"]

#: The longest single long poll; below the generator's request timeout.
POLL_WAIT = 10.0


@dataclass
class Completion:
    """The final records of the jobs waited for, and how many were not final in time."""

    records: list[dict[str, Any]] = field(default_factory=list)
    missing: int = 0


def sample_from_records(
    label: str, records: Sequence[dict[str, Any]], missing: int, since: float
) -> Sample:
    """A sample of job records: latency ``finished_at - created_at`` of each succeeded job,
    finish offsets from the wall-clock time ``since``, and as errors the jobs that did not
    succeed plus ``missing`` ones. Its ``elapsed_s`` runs from ``since`` to the last finish."""
    sample = Sample(label=label, total=len(records) + missing, concurrency=0)
    for record in records:
        finished = record.get("finished_at")
        if isinstance(finished, int | float):
            sample.finish_offsets.append(finished - since)
        if record.get("state") not in ("succeeded", "done"):
            sample.errors += 1
            sample.error_kinds[str(record.get("state"))] += 1
            continue
        created = record.get("created_at")
        if isinstance(created, int | float) and isinstance(finished, int | float):
            sample.latencies_ms.append((finished - created) * 1000)
    sample.errors += missing
    if missing:
        sample.error_kinds["not final in time"] += missing
    sample.elapsed_s = max(sample.finish_offsets, default=0.0)
    return sample


async def await_jobs(
    ctx: ScenarioContext,
    client: httpx.AsyncClient,
    job_ids: Sequence[str],
    *,
    label: str,
    time_limit: float,
    concurrency: int = 64,
) -> Completion:
    """Wait (long polls, ``concurrency`` at a time) until every job in ``job_ids`` is final or
    ``time_limit`` s pass.

    Cancellation: blocks on the long polls; nothing to undo.
    """
    completion = Completion()
    deadline = time.perf_counter() + time_limit

    async def wait_one(client: httpx.AsyncClient, index: int) -> bool:
        left = deadline - time.perf_counter()
        record = await wait_for_job(
            client, job_ids[index], poll_wait=POLL_WAIT, time_limit=max(left, 0.01)
        )
        if record is None:
            return False
        completion.records.append(record)
        return True

    await drive(
        client,
        wait_one,
        label=label,
        total=len(job_ids),
        concurrency=concurrency,
        time_limit=time_limit,
        progress=ctx.progress,
    )
    completion.missing = len(job_ids) - len(completion.records)
    return completion


async def cancel_jobs(
    ctx: ScenarioContext,
    client: httpx.AsyncClient,
    job_ids: Sequence[str],
    *,
    label: str,
    time_limit: float,
) -> int:
    """Cancel and remove each job in ``job_ids`` (64 at a time, for at most ``time_limit`` s);
    answers how many the platform confirmed.

    Cancellation: blocks on the requests; some jobs may be left.
    """

    async def cancel_one(client: httpx.AsyncClient, index: int) -> bool:
        return await cancel_job(client, job_ids[index])

    sample = await drive(
        client,
        cancel_one,
        label=label,
        total=len(job_ids),
        concurrency=64,
        time_limit=time_limit,
        progress=ctx.progress,
    )
    return len(sample.latencies_ms)
