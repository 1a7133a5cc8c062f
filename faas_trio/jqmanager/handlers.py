"""The jqmanager's RPC requests, each translated into one call of the job state machine.

No job logic lives here: each case unpacks a request, calls :class:`~.manager.JobManager`,
and packs its answer. Errors are raised as :class:`~faas_trio.core.errors.FaasError` (the RPC
server turns them into error replies).
"""

from __future__ import annotations

import trio

from ..core.errors import BadRequest
from ..core.messages import (
    CancelGroup,
    CancelJob,
    Commands,
    Dispatch,
    Done,
    ForgetFunctions,
    GetMetrics,
    GetStats,
    GroupAccepted,
    GroupCancelled,
    Heartbeat,
    JobReply,
    Message,
    NextJob,
    Ping,
    Pong,
    Report,
    Submit,
    SubmitGroup,
    WaitJob,
    WatchGroup,
)
from .manager import JobManager
from .maps import MapManager

__all__ = ["handle", "handle_with", "take_back_undelivered"]


async def handle(manager: JobManager, request: Message) -> Message:
    """Answer one request (maps through a :class:`MapManager` over ``manager``)."""
    return await handle_with(manager, MapManager(manager), request)


async def handle_with(manager: JobManager, maps: MapManager, request: Message) -> Message:
    """Answer one request.

    Raises:
        BadRequest: a message the jqmanager does not serve.

    Cancellation: as the :class:`JobManager` method the request's type calls.
    """
    match request:
        case NextJob(worker=worker, wait=wait, max_jobs=max_jobs, slot=number):
            return await manager.next_job(worker, wait, max_jobs, number)
        case Heartbeat():
            cancels = await manager.heartbeat(
                request.worker, request.running, request.slots, request.draining, request.wait,
                confinement=request.confinement,
            )  # fmt: skip
            return Commands(cancel=cancels)
        case Report(worker=worker, outcome=outcome, more=more):
            if more:
                await manager.report_many(worker, [outcome, *more])
            else:
                await manager.report(worker, outcome)
            return Done()
        case Submit(submission=submission, wait=wait):
            return JobReply(await manager.submit(submission, wait))
        case WaitJob(id=job_id, wait=wait):
            return JobReply(await manager.wait(job_id, wait))
        case CancelJob(id=job_id):
            return JobReply(await manager.cancel(job_id))
        case SubmitGroup(group=group, args=args):
            stored, existing = await maps.submit(group, args)
            return GroupAccepted(stored, existing)
        case WatchGroup(id=group_id, after=after, wait=wait, until_done=until_done):
            return await maps.watch(group_id, after, wait, until_done=until_done)
        case CancelGroup(id=group_id):
            return GroupCancelled(await maps.cancel(group_id))
        case GetStats():
            manager.finals.metrics.observe_scaler(request, trio.current_time())
            return manager.stats()
        case GetMetrics():
            return manager.finals.metrics.snapshot(
                manager.stats(),
                now=trio.current_time(),
                confinement=manager.leases.confinements(),
            )
        case ForgetFunctions(user=user, name=name):
            manager.early.forget(user, name)
            return Done()
        case Ping():
            return Pong("jqmanager")
        case _:
            raise BadRequest(f"jqmanager does not serve {type(request).__name__}")


def take_back_undelivered(manager: JobManager, request: Message, reply: Message) -> None:
    """A reply the RPC server could not deliver: a dispatch whose worker is gone goes back to
    the queue at once. Other undelivered replies need nothing (their jobs are unaffected)."""
    if isinstance(request, NextJob) and isinstance(reply, Dispatch):
        manager.undelivered(request.worker, reply)
