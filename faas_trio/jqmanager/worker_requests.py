"""What workers ask of the jqmanager: work (``NextJob``), liveness (``Heartbeat``) and
results (``Report``)."""

from __future__ import annotations

import logging
import time

import msgspec
import trio

from ..core.errors import BadRequest, NotFound, PeerUnavailable
from ..core.messages import (
    Commands,
    Dispatch,
    Done,
    GetFunction,
    GetJob,
    Heartbeat,
    Message,
    NextJob,
    NoJob,
    Report,
    RequeueJob,
)
from ..core.records import JobRecord, JobState, Outcome
from .leases import Lease
from .manager import JobManager

__all__ = ["handle_heartbeat", "handle_next_job", "handle_report", "take_back_undelivered"]

log = logging.getLogger("faas.jqmanager")


async def handle_next_job(manager: JobManager, request: NextJob) -> Dispatch | NoJob:
    """A job for the worker's free slot, or NoJob after ``request.wait`` seconds. Held
    requests are served in arrival order.

    Cancellation: blocks until a job arrives or the wait ends; a cancel closes the slot. A job
    handed to the slot just before the cancel stays leased, and the lease rules take it back
    when the worker's heartbeats do not list it.
    """
    deadline = trio.current_time() + max(0.0, request.wait)
    if not await manager.until_ready(deadline - trio.current_time()):
        return NoJob()
    worker = manager.leases.seen(request.worker, trio.current_time())
    if worker.draining:
        return NoJob()
    entry = manager.queue.pop()
    if entry is not None:
        return manager.start(entry, request.worker)
    slot = manager.slots.open(request.worker)
    try:
        with trio.move_on_at(deadline):
            await slot.event.wait()
    finally:
        manager.slots.close(slot)
    return slot.dispatch or NoJob()


def take_back_undelivered(manager: JobManager, request: Message, reply: Message) -> None:
    """Requeue at once, without counting the attempt, a job whose dispatch never reached its
    worker (the worker is gone), instead of waiting for its lease to expire. Other replies
    that were not delivered need nothing: the jobs they are about are unaffected."""
    if not isinstance(request, NextJob) or not isinstance(reply, Dispatch):
        return
    lease = manager.leases.get(reply.job.id)
    if lease is None or lease.worker != request.worker or lease.job.attempts != reply.job.attempts:
        return
    manager.leases.release(reply.job.id)
    log.info("job %s: its worker %s is gone before it got it; requeued", lease.job.id, lease.worker)
    manager.requeue(lease, "its worker was gone", count_attempt=False)


async def handle_heartbeat(manager: JobManager, request: Heartbeat) -> Commands:
    """Record the worker as alive, take back leased jobs it lost track of, and answer its
    pending cancels: at once if any, else when one arrives within ``request.wait`` seconds.

    Cancellation: blocks up to ``request.wait``; undelivered cancels stay pending.
    """
    worker, lost = manager.leases.heartbeat(
        request.worker, request.running, request.slots, request.draining, trio.current_time()
    )
    if request.draining:
        manager.slots.close_worker(request.worker)
    for lease in lost:
        log.warning("job %s missing from worker %s; taken back", lease.job.id, lease.worker)
        manager.requeue(lease, "not running on its worker")
    if not worker.cancels:
        with trio.move_on_after(max(0.0, request.wait)):
            await worker.wakeup.wait()
    return Commands(cancel=worker.take_cancels())


def final_record(job: JobRecord, outcome: Outcome, worker: str) -> JobRecord:
    """The final record of ``job`` as ``worker`` reported it."""
    return msgspec.structs.replace(
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


async def handle_report(manager: JobManager, request: Report) -> Done:
    """Store a finished attempt (or requeue a handed-back one), then answer Done, so the
    worker stops resending. A stale report (the job is final, or a later attempt was
    dispatched) is answered Done and changes nothing.

    Raises:
        BadRequest: the outcome is ``running``.
        PeerUnavailable: the final state could not be stored; the lease is as before, so the
            worker's resend can try again.

    Cancellation: blocks while the final state is stored (up to the persist timeout); a cancel
    leaves the job leased as before.
    """
    outcome = request.outcome
    if outcome.state is JobState.RUNNING:
        raise BadRequest("a report carries a final state, or queued to hand a job back")
    if not await manager.until_ready(manager.config.db_timeout):
        raise PeerUnavailable("jqmanager is still loading its jobs")
    manager.leases.seen(request.worker, trio.current_time())
    job_id = outcome.job_id
    if job_id in manager.finishing:
        await manager.wait_finishing(job_id)
        return Done()
    if manager.completions.final(job_id) is not None:
        return Done()
    lease = manager.leases.get(job_id)
    if lease is not None:
        if lease.worker == request.worker and lease.job.attempts == outcome.attempt:
            await _finish_leased(manager, manager.leases.release(job_id) or lease, request)
        return Done()
    entry = manager.queue.get(job_id)
    if entry is not None:
        # Requeued after its lease was lost; the result of its latest attempt still counts.
        if entry.job.attempts == outcome.attempt and outcome.state is not JobState.QUEUED:
            manager.queue.remove(job_id)
            record = final_record(entry.job, outcome, request.worker)
            try:
                await manager.finish(record, entry.function, entry.job, outcome.logs)
            except BaseException:
                manager.queue.push_front(entry.job, entry.function)
                manager.dispatch_queued()
                raise
        return Done()
    await _report_unowned(manager, request)
    return Done()


async def _finish_leased(manager: JobManager, lease: Lease, request: Report) -> None:
    outcome = request.outcome
    if outcome.state is JobState.QUEUED:
        manager.requeue(lease, "handed back by its worker", count_attempt=False)
        return
    record = final_record(lease.job, outcome, request.worker)
    try:
        await manager.finish(record, lease.function, lease.job, outcome.logs)
    except BaseException:
        manager.leases.grant(lease.job, lease.function, lease.worker, trio.current_time())
        raise


async def _report_unowned(manager: JobManager, request: Report) -> None:
    """A report for a job this jqmanager does not hold: finish it if the store has it
    unfinished (it was dispatched before a restart), else ignore it."""
    outcome = request.outcome
    db, timeout = manager.db, manager.config.db_timeout
    try:
        reply = await db.call(GetJob(outcome.job_id), timeout=timeout)
    except NotFound:
        return
    if manager.known(outcome.job_id) is not None:
        # It became ours while we asked: handle it as such.
        await handle_report(manager, request)
        return
    if reply.job.is_final:
        return
    stored = reply.job
    if outcome.state is not JobState.QUEUED:
        record = final_record(stored, outcome, request.worker)
        await manager.finish(record, None, stored, outcome.logs)
        return
    try:
        got = await db.call(GetFunction(stored.user, stored.function), timeout=timeout)
    except NotFound:
        got = None
    if manager.known(outcome.job_id) is not None:
        return
    if got is None:
        failed = msgspec.structs.replace(
            stored, state=JobState.FAILED, result="function not found",
            error="function not found", finished_at=time.time(),
        )
        await manager.finish(failed, None, stored)
        return
    queued = msgspec.structs.replace(
        stored, state=JobState.QUEUED, attempts=max(0, stored.attempts - 1), worker=None,
        started_at=None,
    )
    manager.queue.push(queued, got.function, admitted=False)
    manager.writes.send(
        stored.id,
        RequeueJob(stored.id, error="handed back by its worker", attempts=queued.attempts),
    )
    manager.dispatch_queued()
