"""The record of a job after each transition, built in one place.

Pure functions of the record before (and what the transition adds): no I/O, no clock other
than ``time.time()`` for wall-clock stamps. :class:`~.manager.JobManager` decides which
transition happens; this module only says what the record looks like afterwards.
"""

from __future__ import annotations

import time

import msgspec

from ..core.bounds import bounded_record
from ..core.records import JobRecord, JobState, Outcome

__all__ = [
    "FUNCTION_NOT_FOUND",
    "WORKER_LOST",
    "cancelled",
    "failed",
    "queued_again",
    "reported",
    "running",
]

#: The result and error of a job whose attempts were all lost with their workers.
WORKER_LOST = "worker lost"
#: The result and error of a job whose function was deleted before it could run.
FUNCTION_NOT_FOUND = "function not found"


def running(job: JobRecord, worker: str) -> JobRecord:
    """``job`` dispatched to ``worker``: one attempt more, started now."""
    return msgspec.structs.replace(
        job,
        state=JobState.RUNNING,
        attempts=job.attempts + 1,
        worker=worker,
        started_at=time.time(),
    )


def queued_again(job: JobRecord, attempts: int) -> JobRecord:
    """``job`` back in the queue with ``attempts`` attempts counted."""
    return msgspec.structs.replace(
        job, state=JobState.QUEUED, attempts=attempts, worker=None, started_at=None
    )


def failed(job: JobRecord, reason: str) -> JobRecord:
    """``job`` failed by the platform (not by its code) for ``reason``."""
    return msgspec.structs.replace(
        job, state=JobState.FAILED, result=reason, error=reason, finished_at=time.time()
    )


def cancelled(job: JobRecord) -> JobRecord:
    """``job`` cancelled by its user now; a running one is charged the time it ran."""
    now = time.time()
    ran_ms = (now - job.started_at) * 1000.0 if job.started_at is not None else None
    return msgspec.structs.replace(
        job,
        state=JobState.CANCELLED,
        result="cancelled",
        value=None,
        error="cancelled by user",
        finished_at=now,
        duration_ms=ran_ms if job.state is JobState.RUNNING else None,
    )


def reported(job: JobRecord, outcome: Outcome, worker: str) -> JobRecord:
    """The final record of ``job`` as ``worker`` reported it, with what a store cannot hold
    clamped or refused (:func:`~faas_trio.core.bounds.bounded_record`): a worker's report is
    checked like any input, so a bad number can never make the final write fail forever."""
    record = msgspec.structs.replace(
        job,
        state=outcome.state,
        result=outcome.result,
        value=outcome.value,
        error=outcome.error,
        attempts=outcome.attempt,
        worker=worker,
        cold_start=outcome.cold_start,
        init_ms=outcome.init_ms,
        started_at=outcome.started_at or job.started_at,
        finished_at=outcome.finished_at or time.time(),
        duration_ms=outcome.duration_ms,
    )
    return bounded_record(record)
