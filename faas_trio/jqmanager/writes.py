"""Background writes of job transitions to the dbmanager, in order per job.

A dispatch or a requeue is decided in memory and answered at once; its ``StartJob`` or
``RequeueJob`` follows in a task of the server's nursery. Writes of one job go out one at a
time, in the order they were decided, so a quick requeue-and-redispatch cannot reach the
store as running-then-queued. A write that fails is logged and dropped: every such write is
conditional, the final ``FinishJob`` supersedes it, and a restart reloads what the store holds.

A write can also be deferred (:meth:`JobWrites.send_later`) and dropped if it is no longer
wanted when it comes due: a ``StartJob`` is sent only for a job still running after
:data:`START_WRITE_DELAY`, so most jobs cost two writes (created, finished), not three. The
price is paid only at a restart of the jqmanager: a job that ran for less than the delay
is reloaded as queued and runs again, as it would if the write had been lost.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from ..core.errors import FaasError
from ..core.messages import Request
from .dbrequests import DbClient

__all__ = ["DEFERRED_TICK", "START_WRITE_DELAY", "JobWrites"]

log = logging.getLogger("faas.jqmanager")

#: Seconds a job runs before its ``StartJob`` is written.
START_WRITE_DELAY = 0.5
#: Deferred writes that come due within this many seconds of each other are looked at in
#: one wakeup (a wakeup per job would cost the loop more than the check itself).
DEFERRED_TICK = 0.05


class JobWrites:
    """Queues writes per job and sends each job's writes in order from ``nursery``."""

    def __init__(self, db: DbClient, nursery: trio.Nursery, *, deadline: float) -> None:
        self._db = db
        self._nursery = nursery
        self._deadline = deadline
        self._backlog: dict[str, deque[Request[Any]]] = {}
        #: Deferred writes in the order they come due: (due, job id, request, still wanted).
        self._deferred: deque[tuple[float, str, Request[Any], Callable[[], bool]]] = deque()

    def send(self, job_id: str, request: Request[Any]) -> None:
        """Send ``request`` after the earlier writes of ``job_id``, without waiting."""
        backlog = self._backlog.get(job_id)
        if backlog is not None:
            backlog.append(request)
            return
        self._backlog[job_id] = deque([request])
        self._nursery.start_soon(self._drain, job_id)

    def send_later(
        self, delay: float, job_id: str, request: Request[Any], wanted: Callable[[], bool]
    ) -> None:
        """:meth:`send` ``request`` after ``delay`` seconds if ``wanted()`` is still true then.
        Every call must use the same ``delay``, so writes come due in the order they were
        deferred."""
        if not self._deferred:
            self._nursery.start_soon(self._send_deferred)
        self._deferred.append((trio.current_time() + delay, job_id, request, wanted))

    async def _drain(self, job_id: str) -> None:
        """Send the backlog of ``job_id`` until it is empty.

        Cancellation: unsent writes are dropped (the store keeps the job's previous state,
        which a restart reloads).
        """
        backlog = self._backlog[job_id]
        try:
            while backlog:
                request = backlog[0]
                try:
                    await self._db.call_retrying(request, deadline=self._deadline)
                except FaasError as exc:
                    log.warning("%s of job %s not stored: %s", type(request).__name__, job_id, exc)
                backlog.popleft()
        finally:
            del self._backlog[job_id]

    async def _send_deferred(self) -> None:
        """Send each deferred write that is due and still wanted, until none is left (those
        due within :data:`DEFERRED_TICK` of the first at once).

        Cancellation: deferred writes not yet due are dropped (see the module docstring).
        """
        deferred = self._deferred
        try:
            while deferred:
                await trio.sleep_until(deferred[0][0] + DEFERRED_TICK)
                now = trio.current_time()
                while deferred and deferred[0][0] <= now:
                    _, job_id, request, wanted = deferred.popleft()
                    if wanted():
                        self.send(job_id, request)
        finally:
            deferred.clear()
