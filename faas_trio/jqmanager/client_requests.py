"""What the frontend asks of the jqmanager: run a job (``Submit``), wait for one (``WaitJob``)
and cancel one (``CancelJob``). Each answers the job's record as it stands."""

from __future__ import annotations

import logging
import time

import msgspec
import trio

from ..core.errors import FaasError, InternalError, PeerUnavailable
from ..core.messages import (
    CancelJob,
    CreateJob,
    GetJob,
    JobCreated,
    JobRecord,
    JobReply,
    JobState,
    Submit,
    WaitJob,
)
from .manager import JobManager

__all__ = ["handle_cancel", "handle_submit", "handle_wait"]

log = logging.getLogger("faas.jqmanager")


async def _ready(manager: JobManager) -> None:
    if not await manager.until_ready(manager.config.db_timeout):
        raise PeerUnavailable("jqmanager is still loading its jobs")


async def handle_submit(manager: JobManager, request: Submit) -> JobReply:
    """Store and queue a new job; with ``wait`` > 0, answer once it is final or the wait ends.
    A repeated submission (same id or idempotency key) answers the known job, not a new one.

    Raises:
        TooManyRequests: the queue, or the user's share of it, is full, or the user is over
            its calls per minute.
        PeerUnavailable: the dbmanager did not answer in time. It may have stored the job
            all the same: the request is then resent in the background until answered, and a
            job it stored runs (so a client should retry with the same idempotency key).
        NotFound: no such user or function (from the dbmanager).

    Cancellation: blocks while the job is stored, then while waiting. A cancel before the
    store answered withdraws the admission (the job may still be stored, and is loaded at the
    next start); after, the job stays queued.
    """
    await _ready(manager)
    record = manager.known(request.job.id)
    if record is None:
        manager.rate.take(request.job.user)
        record = await _create(manager, request.job)
    return JobReply(await manager.settle(record, request.wait))


async def _create(manager: JobManager, job: JobRecord) -> JobRecord:
    manager.queue.admit(job.user)
    admitted = True
    try:
        try:
            reply = await manager.db.call(CreateJob(job), timeout=manager.config.db_timeout)
        except PeerUnavailable:
            # The dbmanager may have stored the job all the same (it hung, or died before it
            # answered): find out, so that a stored job never waits unqueued until a restart.
            manager.nursery.start_soon(_create_eventually, manager, job)
            raise
        if not isinstance(reply, JobCreated):
            raise InternalError(f"dbmanager answered {type(reply).__name__} to CreateJob")
        record, taken = _take_over(manager, reply, admitted=True)
        admitted = not taken
        return record
    finally:
        if admitted:
            manager.queue.withdraw(job.user)


def _take_over(
    manager: JobManager, created: JobCreated, *, admitted: bool
) -> tuple[JobRecord, bool]:
    """Queue (or lease) the job the dbmanager answered ``created`` for, unless it is known or
    final already; the job as it stands, and whether it was taken over (its admission, if
    ``admitted``, is then used up)."""
    stored = created.job
    known = manager.known(stored.id)
    if known is not None or stored.is_final:
        return known or stored, False
    if stored.state is JobState.QUEUED:
        manager.enqueue(stored, created.function, admitted=admitted)
    else:
        # Stored as running by an earlier life of ours: leased to its recorded worker.
        shared = manager.queue.adopt(created.function, stored.user, admitted=admitted)
        manager.leases.grant(stored, shared, stored.worker or "unknown", trio.current_time())
    return manager.known(stored.id) or stored, True


async def _create_eventually(manager: JobManager, job: JobRecord) -> None:
    """After a ``CreateJob`` that got no answer: resend it (it is idempotent) until the
    dbmanager answers, then take the stored job over. So a submission answered 503 either
    runs or was refused for good (unknown user or function); it is never left stored but
    unqueued.

    Cancellation: stops resending; a job stored meanwhile is loaded at the next start.
    """
    backoff = 0.1
    while True:
        try:
            reply = await manager.db.call(CreateJob(job), timeout=manager.config.db_timeout)
            break
        except PeerUnavailable:
            await trio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        except FaasError as exc:
            log.info("job %s, unanswered at submission, was not stored: %s", job.id, exc)
            return
    if isinstance(reply, JobCreated):
        _, taken = _take_over(manager, reply, admitted=False)
        if taken:
            log.info("job %s, unanswered at submission, was stored: queued", job.id)


async def handle_wait(manager: JobManager, request: WaitJob) -> JobReply:
    """The job once final, or as it stands after ``wait`` seconds.

    Raises:
        NotFound: no such job.
        PeerUnavailable: the job is not ours and the dbmanager did not answer.

    Cancellation: only waits; the waiter is unregistered.
    """
    record = manager.known(request.id)
    if record is None:
        reply = await manager.db.call(GetJob(request.id), timeout=manager.config.db_timeout)
        if not isinstance(reply, JobReply):
            raise InternalError(f"dbmanager answered {type(reply).__name__} to GetJob")
        record = manager.known(request.id) or reply.job
    return JobReply(await manager.settle(record, request.wait))


def _cancelled(job: JobRecord) -> JobRecord:
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


async def handle_cancel(manager: JobManager, request: CancelJob) -> JobReply:
    """Cancel a queued or running job and answer its final record (a job already final is
    answered as it is). A running job's worker is told through its heartbeat; its later report
    is stale.

    Raises:
        NotFound: no such job.
        PeerUnavailable: the cancel could not be stored; the job is as before.

    Cancellation: blocks while the final state is stored; a cancel puts the job back as it
    was (a running job's worker may still get the cancel and report the job cancelled).
    """
    await _ready(manager)
    job_id = request.id
    if job_id in manager.finishing:
        return JobReply(await manager.wait_finishing(job_id))
    final = manager.completions.final(job_id)
    if final is not None:
        return JobReply(final)
    parked = manager.awaiting.remove(job_id)
    if parked is not None:
        job, function = parked
        try:
            return JobReply(await manager.finish(_cancelled(job), function, job))
        except BaseException:
            manager.park(job, function)
            raise
    entry = manager.queue.remove(job_id)
    if entry is not None:
        try:
            return JobReply(await manager.finish(_cancelled(entry.job), entry.function, entry.job))
        except BaseException:
            manager.queue.push_front(entry.job, entry.function)
            manager.dispatch_queued()
            raise
    lease = manager.leases.release(job_id)
    if lease is not None:
        manager.leases.add_cancel(lease.worker, job_id)
        try:
            return JobReply(await manager.finish(_cancelled(lease.job), lease.function, lease.job))
        except BaseException:
            manager.leases.grant(lease.job, lease.function, lease.worker, trio.current_time())
            raise
    reply = await manager.db.call(GetJob(job_id), timeout=manager.config.db_timeout)
    if not isinstance(reply, JobReply):
        raise InternalError(f"dbmanager answered {type(reply).__name__} to GetJob")
    if manager.known(job_id) is not None:
        return await handle_cancel(manager, request)
    if reply.job.is_final:
        return JobReply(reply.job)
    return JobReply(await manager.finish(_cancelled(reply.job), None, reply.job))
