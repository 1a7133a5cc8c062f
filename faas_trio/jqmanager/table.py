"""Where each job the jqmanager owns is, and the moves between those places that need no I/O.

:class:`JobTable` is the base of :class:`~.manager.JobManager` (the job state machine, whose
docstring has the state diagram): it holds the queue, the leases, the held requests for work
and the finishing jobs, and defines the transitions that are decided in memory and stored in
the background (start, requeue, hand back) and the one compensation (:meth:`put_back`). The
transitions that wait on the store or on a peer are in :mod:`.manager`. Nothing else changes
this state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import trio

from ..core.errors import PeerUnavailable
from ..core.jobs import created_job
from ..core.messages import Dispatch, JobCreated, RequeueJob, StartJob, Stats
from ..core.records import BuildState, Function, JobRecord, JobState, Submission
from . import records
from .builds import AwaitingBuilds, await_build, build_failure
from .config import JqManagerConfig
from .dbrequests import DbClient, DbRequests
from .early import EarlyStarts
from .finals import FinalStates
from .groups import GroupTracker
from .leases import JobLease, LeaseTable
from .queue import JobQueue, QueuedJob
from .rate import RateLimiter
from .slots import ReadySlots
from .unanswered import UnansweredCreates
from .writes import START_WRITE_DELAY, JobWrites

__all__ = ["JobTable", "Taken"]

log = logging.getLogger("faas.jqmanager")


@dataclass(frozen=True, slots=True)
class Taken:
    """A job taken out of the queue (``lease`` None) or the leases to be finished: what
    :meth:`JobTable.put_back` needs to undo the taking. ``function`` is None for a job
    known only from the store (not counted here: nothing to put back)."""

    job: JobRecord
    function: Function | None
    lease: JobLease | None = None


class JobTable:
    """The jqmanager's job state and its in-memory transitions. Background work goes to
    ``nursery``. The attributes are readable by anyone (stats, tests); only this class and
    :class:`~.manager.JobManager` change them.
    """

    def __init__(self, config: JqManagerConfig, db: DbClient, nursery: trio.Nursery) -> None:
        self.config = config
        self.db = DbRequests(db, timeout=config.db_timeout, persist_timeout=config.persist_timeout)
        self.nursery = nursery
        self.queue = JobQueue(max_queue=config.max_queue, user_max_active=config.user_max_active)
        #: Jobs waiting for their function's environment to be built (:mod:`.builds`).
        self.awaiting = AwaitingBuilds()
        self.rate = RateLimiter(config.user_rate)
        self.leases = LeaseTable(
            lease_timeout=config.lease_timeout, dispatch_grace=config.dispatch_grace
        )
        self.slots = ReadySlots()
        self.writes = JobWrites(db, nursery, deadline=config.persist_timeout)
        self.groups = GroupTracker()
        #: Sync calls started while their job is being stored (:mod:`.early`).
        self.early = EarlyStarts()
        self.finals = FinalStates(self.db, self.queue, self.groups, nursery, self.early)
        #: Submissions answered 503 whose creation is resent until the dbmanager answers.
        self.unanswered = UnansweredCreates(self.db.create, self._created_late, nursery)
        #: Set once the unfinished jobs were loaded from the store.
        self.ready = trio.Event()

    def current(self, job_id: str) -> JobRecord | None:
        """The record of a job this jqmanager owns (queued, running or finishing), or None."""
        entry = self.queue.get(job_id)
        if entry is not None:
            return entry.job
        parked = self.awaiting.get(job_id)
        if parked is not None:
            return parked
        lease = self.leases.get(job_id)
        if lease is not None:
            return lease.job
        return self.finals.finishing.get(job_id)

    def known(self, job_id: str) -> JobRecord | None:
        """:meth:`current`, or the final record if the job finished recently."""
        return self.current(job_id) or self.finals.final(job_id)

    async def until_ready(self, patience: float) -> bool:
        """Whether the unfinished jobs are loaded, waiting for them up to ``patience`` s.

        Cancellation: only waits; no state changes. Once loaded it answers without
        yielding (every request asks: a checkpoint and a cancel scope each would cost more).
        """
        if self.ready.is_set():
            return True
        with trio.move_on_after(max(0.0, patience)):
            await self.ready.wait()
        return self.ready.is_set()

    async def require_ready(self) -> None:
        if not await self.until_ready(self.config.db_timeout):
            raise PeerUnavailable("jqmanager is still loading its jobs")

    async def settle(self, record: JobRecord, wait: float) -> JobRecord:
        """``record`` once final, or its latest state after ``wait`` seconds.

        Cancellation: only waits; the waiter is unregistered.
        """
        if not record.is_final and wait > 0:
            with trio.move_on_after(wait):
                return await self.finals.completions.wait(record.id)
        return self.known(record.id) or record

    def stats(self) -> Stats:
        return Stats(
            queued=len(self.queue),
            running=self.leases.running,
            workers=self.leases.alive,
            slots=self.leases.slots,
        )

    def _created_late(self, created: JobCreated) -> None:
        """The dbmanager answered a ``CreateJob`` resent after a 503 (:mod:`.unanswered`): take
        the stored job over, so it never waits unqueued until a restart."""
        if self._take_over(created, admitted=False)[1]:
            log.info("job %s, unanswered at submission, was stored: queued", created.job.id)

    def _take_over(self, created: JobCreated, *, admitted: bool) -> tuple[JobRecord, bool]:
        """Own the job the dbmanager answered ``created`` for, unless it is known or final
        already; the job as it stands, and whether it was taken over (its admission, if
        ``admitted``, is then used up)."""
        stored = created.job
        known = self.known(stored.id)
        if known is not None or stored.is_final:
            return known or stored, False
        self.adopt(stored, created.function, admitted=admitted)
        return self.known(stored.id) or stored, True

    def start_early(self, job: Submission) -> tuple[JobRecord, Function] | None:
        """queued -> running before the store answered ``job``'s ``CreateJob``, when a slot
        waits, nothing is queued, and the function is known (see :mod:`.early`); the job as
        dispatched and the function it runs with, or None (nothing done). The admission of
        ``job`` is used up when it starts."""
        if job.idempotency_key is not None or len(self.queue):
            return None
        function = self.early.function(job.user, job.function)
        slot = self.slots.first()
        if function is None or slot is None:
            return None
        shared = self.queue.adopt(function, job.user, admitted=True)
        entry = QueuedJob(created_job(job, function, time.time()), shared)
        dispatch = self.start([entry], slot.worker)
        self.slots.fill(slot, dispatch)
        self.early.begin(job.id)
        return dispatch.job, function

    def confirm_early(self, early: JobRecord, ran: Function, created: JobCreated) -> JobRecord:
        """The store answered the ``CreateJob`` of a job started early: keep the attempt if
        the store created that job with the function it runs, else void the attempt and own
        the job as stored. The job as it stands."""
        stored = created.job
        if stored.id == early.id and not created.existing and created.function == ran:
            return self.known(early.id) or early
        self.void_early(early, cancel=False)  # a cancel by id could reach the next attempt
        # Its next attempt must not carry the void attempt's number.
        stored = msgspec.structs.replace(stored, attempts=max(stored.attempts, early.attempts))
        record, _ = self._take_over(JobCreated(stored, created.function), admitted=False)
        return record

    def void_early(self, early: JobRecord, *, cancel: bool = True) -> None:
        """Undo a start whose ``CreateJob`` failed or answered another job: its report is
        ignored, its worker told to cancel it (if ``cancel``), and the job no longer counts
        here."""
        self.early.void(early.id, early.attempts)
        taken = self.take(early.id)
        if taken is None:
            return
        if taken.lease is not None and cancel:
            self.leases.add_cancel(taken.lease.worker, early.id)
        if taken.function is not None:
            self.queue.retire(taken.job, taken.function)

    def adopt(
        self, job: JobRecord, function: Function, *, admitted: bool, dispatch: bool = True
    ) -> None:
        """Own an unfinished job from the store: a queued one joins the queue (and is handed
        to a waiting slot unless ``dispatch`` is false: the caller dispatches once it adopted
        many); a running one (an earlier life of ours dispatched it) stays leased to its
        recorded worker. An item of a group counts as held for the group."""
        if job.group_id is not None:
            self.groups.add(job.group_id, 1)
        if job.state is JobState.QUEUED:
            self._enqueue(job, function, admitted=admitted, dispatch=dispatch)
        else:
            shared = self.queue.adopt(function, job.user, admitted=admitted)
            self.leases.grant(job, shared, job.worker or "unknown", trio.current_time())

    def _enqueue(
        self, job: JobRecord, function: Function, *, admitted: bool, dispatch: bool = True
    ) -> None:
        """Queue a queued ``job``, unless its function's environment is not built: then it
        waits for the build (:mod:`.builds`), or fails with the build's error."""
        build = function.build
        if build is None or build.state is BuildState.READY:
            self.queue.push(job, function, admitted=admitted)
            if dispatch:
                self.dispatch()
            return
        shared = self.queue.adopt(function, job.user, admitted=admitted)
        if build.state is BuildState.FAILED:
            reason = f"its environment did not build: {build.error}"
            self.finals.store_later(job, build_failure(job, reason), shared)
        else:
            self.park(job, shared)

    def park(self, job: JobRecord, shared: Function) -> None:
        """Make a counted ``job`` wait for the build of its function (the shared copy)."""
        if self.awaiting.park(job, shared):
            key = (shared.user, shared.name, shared.version)
            self.nursery.start_soon(await_build, self, key)

    def dispatch(self) -> None:
        """Hand queued jobs to held requests for work, users in turn (see :mod:`.queue`)."""
        while len(self.queue) and (slot := self.slots.first()) is not None:
            entries = self.queue.pop_batch(slot.max_jobs)
            self.slots.fill(slot, self.start(entries, slot.worker))

    def start(self, entries: list[QueuedJob], worker: str) -> Dispatch:
        """queued -> running: lease jobs just taken from the queue (one or more of one
        function) to ``worker``; each one's ``StartJob`` is stored later if it still runs."""
        now = trio.current_time()
        started: list[JobRecord] = []
        for entry in entries:
            job = records.running(entry.job, worker)
            self.leases.grant(job, entry.function, worker, now)
            assert job.started_at is not None
            start = StartJob(job.id, job.attempts, worker, job.started_at)
            self.writes.send_later(START_WRITE_DELAY, job.id, start, self._still_running(job))
            started.append(job)
        return Dispatch(started[0], entries[0].function, more=started[1:])

    def _still_running(self, job: JobRecord) -> Callable[[], bool]:
        def still_running() -> bool:
            lease = self.leases.get(job.id)
            return lease is not None and lease.job.attempts == job.attempts

        return still_running

    def requeue(self, lease: JobLease, reason: str) -> None:
        """running -> queued for a lease lost with its worker (the attempt counts), or
        running -> failed ``worker lost`` when the job used up its attempts."""
        job = lease.job
        if job.attempts >= self.config.max_attempts:
            self.finals.store_later(job, records.failed(job, records.WORKER_LOST), lease.function)
            return
        self._queue_again(lease, job.attempts, reason)

    def hand_back(self, lease: JobLease, reason: str) -> None:
        """running -> queued for a job its worker gave back unrun (it drains, or never got
        the dispatch): the attempt does not count."""
        self._queue_again(lease, max(0, lease.job.attempts - 1), reason)

    def _queue_again(self, lease: JobLease, attempts: int, reason: str) -> None:
        job_id = lease.job.id
        self.queue.push_front(records.queued_again(lease.job, attempts), lease.function)
        self.writes.send(job_id, RequeueJob(job_id, error=reason, attempts=attempts))
        self.dispatch()

    def undelivered(self, worker: str, dispatch: Dispatch) -> None:
        """Hand back at once a job whose dispatch never reached ``worker`` (it is gone),
        instead of waiting for its lease to expire; a stale dispatch changes nothing."""
        lease = self.leases.get(dispatch.job.id)
        if lease is None or lease.worker != worker or lease.job.attempts != dispatch.job.attempts:
            return
        self.leases.release(lease.job.id)
        log.info("job %s: its worker %s is gone before it got it; requeued", lease.job.id, worker)
        self.hand_back(lease, "its worker was gone")

    def check_leases(self) -> None:
        """Declare the workers not heard from within the lease timeout dead: drop their held
        requests for work and requeue (or fail) their jobs."""
        for worker in self.leases.expire(trio.current_time()):
            self.slots.close_worker(worker.name)
            if worker.leases:
                log.warning("worker %s lost with %d jobs", worker.name, len(worker.leases))
            for lease in worker.leases.values():
                self.requeue(lease, records.WORKER_LOST)

    def take(self, job_id: str) -> Taken | None:
        """Take a job out of the queue or the leases, to finish it; None if it is in neither."""
        entry = self.queue.remove(job_id)
        if entry is not None:
            return Taken(entry.job, entry.function)
        parked = self.awaiting.remove(job_id)
        if parked is not None:
            return Taken(*parked)
        lease = self.leases.release(job_id)
        if lease is not None:
            return Taken(lease.job, lease.function, lease)
        return None

    def put_back(self, taken: Taken) -> None:
        """Undo :meth:`take` after its final state could not be stored."""
        if taken.function is None:
            return
        build = taken.function.build
        if taken.lease is None and build is not None and not build.is_final:
            self.park(taken.job, taken.function)
        elif taken.lease is None:
            self.queue.push_front(taken.job, taken.function)
            self.dispatch()
        else:
            lease = taken.lease
            self.leases.grant(lease.job, lease.function, lease.worker, trio.current_time())
