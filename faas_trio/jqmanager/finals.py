"""Final states: stored first, then announced.

:class:`FinalStates` is the last step of every path to a final state in the job state machine
(:mod:`.manager`): it stores the final record through the dbmanager, and only then retires the
job from its user's count, wakes its waiters, counts it in the metrics and sends its callback.
While the record is being stored the job is *finishing*: a second cancel or report of it waits
for the first one's outcome instead of storing again.

It does not know where the job was before (queue or lease): when storing fails, putting it
back is the caller's compensation (:meth:`~.manager.JobManager._finish`).
"""

from __future__ import annotations

import logging

import trio

from ..core.errors import FaasError, PeerUnavailable
from ..core.records import Function, JobRecord
from ..core.retry import Backoff
from .callback_delivery import CallbackSender
from .dbrequests import DbRequests
from .early import EarlyStarts
from .groups import GroupTracker
from .metrics import JobMetrics
from .queue import JobQueue
from .waiters import Completions

__all__ = ["FinalStates"]

log = logging.getLogger("faas.jqmanager")

#: Pause between attempts to store a final state nobody waits for, seconds.
STORE_LATER_PAUSE = 1.0


class FinalStates:
    """Stores final records and announces them. Background stores go to ``nursery``."""

    def __init__(
        self,
        db: DbRequests,
        queue: JobQueue,
        groups: GroupTracker,
        nursery: trio.Nursery,
        early: EarlyStarts | None = None,
    ) -> None:
        self._db = db
        #: A final state is never written before the job's own ``CreateJob`` was answered.
        self._early = early or EarlyStarts()
        self._queue = queue
        self._groups = groups
        self._nursery = nursery
        #: Jobs whose final record is being stored, with their record before it.
        self.finishing: dict[str, JobRecord] = {}
        self.completions = Completions()
        self.metrics = JobMetrics()
        self.callbacks = CallbackSender(nursery)

    def final(self, job_id: str) -> JobRecord | None:
        """The final record of ``job_id`` if it finished recently, else None."""
        return self.completions.final(job_id)

    async def store(
        self, prior: JobRecord, record: JobRecord, function: Function | None, logs: str = ""
    ) -> JobRecord:
        """Store the final ``record`` of a job whose record was ``prior``, then announce it.
        ``function`` is the job's counted function (None for a job not counted here).
        Returns the final record as stored (another writer's, if one came first).

        Raises:
            PeerUnavailable, InternalError: not stored in time; nothing was announced and
                the job is no longer finishing.

        Cancellation: blocks on the dbmanager (up to the persist timeout); a cancel is like a
        failure: nothing announced, the job no longer finishing.
        """
        await self._early.settled(record.id)
        self.finishing[record.id] = prior
        try:
            stored = await self._db.store_final(record, logs)
        finally:
            self.finishing.pop(record.id, None)
        self._announce(stored, function)
        return stored

    async def store_many(
        self,
        priors: list[JobRecord],
        records: list[JobRecord],
        functions: list[Function | None],
        logs: list[str],
    ) -> None:
        """:meth:`store` for many jobs in one batch (one ``FinishJobs``): every record is
        stored, then every one announced.

        Raises:
            PeerUnavailable, InternalError: not stored in time; nothing announced.

        Cancellation: as :meth:`store`.
        """
        for record in records:
            await self._early.settled(record.id)
        for prior, record in zip(priors, records, strict=True):
            self.finishing[record.id] = prior
        try:
            stored = await self._db.store_final_many(records, logs)
        finally:
            for record in records:
                self.finishing.pop(record.id, None)
        for record, function in zip(stored, functions, strict=True):
            self._announce(record, function)

    def store_later(self, prior: JobRecord, record: JobRecord, function: Function | None) -> None:
        """:meth:`store` for a final state nobody waits to hear about (a lost job): the job
        is finishing from now on, and is stored in the background, retried until stored."""
        self.finishing[record.id] = prior
        self._nursery.start_soon(self._store_eventually, record, function)

    async def _store_eventually(self, record: JobRecord, function: Function | None) -> None:
        """Store ``record``, retrying until stored, then announce it.

        Cancellation: blocks until stored; a cancel leaves the store as it was (a restart
        reloads the job as unfinished and decides again).
        """
        backoff = Backoff(STORE_LATER_PAUSE, STORE_LATER_PAUSE)
        try:
            await self._early.settled(record.id)
            while True:
                try:
                    stored = await self._db.store_final(record, "")
                    break
                except FaasError as exc:
                    log.warning("final state of job %s not stored yet: %s", record.id, exc)
                    await backoff.sleep()
        finally:
            self.finishing.pop(record.id, None)
        self._announce(stored, function)

    def _announce(self, record: JobRecord, function: Function | None) -> None:
        if function is not None:
            self._queue.retire(record, function)
            if record.group_id is not None and record.group_index is not None:
                self._groups.finished(record.group_id, record.group_index)
        self.completions.finish(record)
        self.metrics.observe_final(record)
        self.callbacks.send(record)

    async def wait_for(self, job_id: str) -> JobRecord:
        """The final record of a job being finished by another request.

        Raises:
            PeerUnavailable: it could not be stored.

        Cancellation: only waits.
        """
        with trio.move_on_after(self._db.persist_timeout + 5.0):
            return await self.completions.wait(job_id)
        raise PeerUnavailable(f"the final state of job {job_id} could not be stored")
