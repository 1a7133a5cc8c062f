"""The job lifecycle: every transition a job goes through while the jqmanager owns it.

:class:`JobManager` holds the queue, the leases, the held requests for work and the waiters,
and answers each request type. All state lives in one trio thread, so a transition made between
two awaits is atomic; handlers re-check what they looked at before an await.

Durability: a new job is stored before its submission is answered; a final state is stored
before anyone is told about it (a waiter, the reporting worker, the canceller). Dispatches and
requeues are answered first and stored in the background, in order per job (:mod:`.writes`);
a dispatch is stored only if its job still runs half a second later.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import msgspec
import trio

from ..core.errors import FaasError, InternalError, NotFound, PeerUnavailable
from ..core.messages import (
    BuildState,
    Changed,
    Dispatch,
    FinishJob,
    Function,
    GetJob,
    JobRecord,
    JobReply,
    JobState,
    Message,
    RequeueJob,
    StartJob,
    Stats,
    UnfinishedJobs,
    UnfinishedReply,
)
from .builds import AwaitingBuilds, await_build, build_failure
from .callbacks import CallbackSender
from .config import JqManagerConfig
from .leases import Lease, LeaseTable
from .metrics import JobMetrics
from .queue import JobQueue, QueuedJob
from .rate import RateLimiter
from .slots import ReadySlots
from .waiters import Completions
from .writes import START_WRITE_DELAY, DbClient, JobWrites

__all__ = ["JobManager"]

log = logging.getLogger("faas.jqmanager")

WORKER_LOST = "worker lost"
#: Durations of this many recently finished jobs make ``Stats.recent_duration_ms``.
RECENT_DURATIONS = 50


def _expect(reply: Message, kind: type[msgspec.Struct]) -> None:
    if not isinstance(reply, kind):
        raise InternalError(f"dbmanager answered {type(reply).__name__}, expected {kind.__name__}")


class JobManager:
    """The jqmanager's state and its transitions. Background work goes to ``nursery``."""

    def __init__(self, config: JqManagerConfig, db: DbClient, nursery: trio.Nursery) -> None:
        self.config = config
        self.db = db
        self.nursery = nursery
        self.queue = JobQueue(max_queue=config.max_queue, user_max_active=config.user_max_active)
        #: Jobs waiting for their function's environment to be built.
        self.awaiting = AwaitingBuilds()
        self.rate = RateLimiter(config.user_rate)
        self.leases = LeaseTable(
            lease_timeout=config.lease_timeout, dispatch_grace=config.dispatch_grace
        )
        self.slots = ReadySlots()
        self.completions = Completions()
        self.writes = JobWrites(db, nursery, deadline=config.persist_timeout)
        #: Jobs whose final record is being stored, with their record before it.
        self.finishing: dict[str, JobRecord] = {}
        #: Set once the unfinished jobs were loaded from the store.
        self.ready = trio.Event()
        self.finished_total = 0
        self._durations: deque[float] = deque(maxlen=RECENT_DURATIONS)
        self.metrics = JobMetrics()
        self.callbacks = CallbackSender(nursery)

    # ---- lookups ------------------------------------------------------------------------

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
        return self.finishing.get(job_id)

    def known(self, job_id: str) -> JobRecord | None:
        """:meth:`current`, or the final record if the job finished recently."""
        return self.current(job_id) or self.completions.final(job_id)

    def stats(self) -> Stats:
        durations = self._durations
        return Stats(
            queued=len(self.queue),
            running=self.leases.running,
            workers=self.leases.alive,
            slots=self.leases.slots,
            recent_duration_ms=sum(durations) / len(durations) if durations else 0.0,
            finished_total=self.finished_total,
        )

    async def until_ready(self, patience: float) -> bool:
        """Whether the unfinished jobs are loaded, waiting for them up to ``patience`` s.

        Cancellation: only waits; no state changes.
        """
        with trio.move_on_after(max(0.0, patience)):
            await self.ready.wait()
        return self.ready.is_set()

    async def settle(self, record: JobRecord, wait: float) -> JobRecord:
        """``record`` once final, or its latest state after ``wait`` seconds.

        Cancellation: only waits; the waiter is unregistered.
        """
        if not record.is_final and wait > 0:
            with trio.move_on_after(wait):
                return await self.completions.wait(record.id)
        return self.known(record.id) or record

    # ---- dispatch -----------------------------------------------------------------------

    def enqueue(self, job: JobRecord, function: Function, *, admitted: bool) -> None:
        """Queue a new queued ``job`` (``admitted``: see :meth:`JobQueue.push`); a job whose
        function's environment is still being built waits for it (:mod:`.builds`), and one
        whose build failed fails with the build's error."""
        build = function.build
        if build is None or build.state is BuildState.READY:
            self.queue.push(job, function, admitted=admitted)
            self.dispatch_queued()
            return
        shared = self.queue.adopt(function, job.user, admitted=admitted)
        if build.state is BuildState.FAILED:
            reason = f"its environment did not build: {build.error}"
            self.finish_later(build_failure(job, reason), shared, job)
        else:
            self.park(job, shared)

    def park(self, job: JobRecord, shared: Function) -> None:
        """Make a counted ``job`` wait for the build of its function (the shared copy)."""
        if self.awaiting.park(job, shared):
            key = (shared.user, shared.name, shared.version)
            self.nursery.start_soon(await_build, self, key)

    def dispatch_queued(self) -> None:
        """Hand queued jobs to held requests for work, oldest of each first."""
        while len(self.queue) and (slot := self.slots.first()) is not None:
            entry = self.queue.pop()
            assert entry is not None
            self.slots.fill(slot, self.start(entry, slot.worker))

    def start(self, entry: QueuedJob, worker: str) -> Dispatch:
        """Lease a job just taken from the queue to ``worker``; store it in the background."""
        job = msgspec.structs.replace(
            entry.job,
            state=JobState.RUNNING,
            attempts=entry.job.attempts + 1,
            worker=worker,
            started_at=time.time(),
        )
        self.leases.grant(job, entry.function, worker, trio.current_time())
        assert job.started_at is not None

        def still_running() -> bool:
            lease = self.leases.get(job.id)
            return lease is not None and lease.job.attempts == job.attempts

        self.writes.send_later(
            START_WRITE_DELAY,
            job.id,
            StartJob(job.id, job.attempts, worker, job.started_at),
            still_running,
        )
        return Dispatch(job, entry.function)

    def requeue(self, lease: Lease, reason: str | None, *, count_attempt: bool = True) -> None:
        """Put the job of a released lease back at the head of the queue, or fail it as
        ``worker lost`` when it used up its attempts."""
        job = lease.job
        if count_attempt and job.attempts >= self.config.max_attempts:
            lost = msgspec.structs.replace(
                job, state=JobState.FAILED, result=WORKER_LOST, error=WORKER_LOST,
                finished_at=time.time(),
            )
            self.finish_later(lost, lease.function, job)
            return
        attempts = job.attempts if count_attempt else max(0, job.attempts - 1)
        queued = msgspec.structs.replace(
            job, state=JobState.QUEUED, attempts=attempts, worker=None, started_at=None
        )
        self.queue.push_front(queued, lease.function)
        self.writes.send(job.id, RequeueJob(job.id, error=reason, attempts=attempts))
        self.dispatch_queued()

    async def watch_leases(self) -> None:
        """Every ``check_interval`` seconds, :meth:`check_leases`.

        Cancellation: runs until cancelled; nothing to clean up.
        """
        while True:
            await trio.sleep(self.config.check_interval)
            self.check_leases()

    def check_leases(self) -> None:
        """Declare the workers not heard from within the lease timeout dead: drop their held
        requests for work and requeue (or fail) their jobs."""
        for worker in self.leases.expire(trio.current_time()):
            self.slots.close_worker(worker.name)
            if worker.leases:
                log.warning("worker %s lost with %d jobs", worker.name, len(worker.leases))
            for lease in worker.leases.values():
                self.requeue(lease, WORKER_LOST)

    # ---- final states -------------------------------------------------------------------

    async def finish(
        self, record: JobRecord, function: Function | None, prior: JobRecord, logs: str = ""
    ) -> JobRecord:
        """Store the final ``record`` of a job taken out of the queue or the leases, then
        retire it and wake its waiters. ``function`` is None for a job that was not counted
        here. Returns the final record as stored (another writer's, if one came first).

        Raises:
            PeerUnavailable, InternalError: not stored in time; the job is no longer finishing
                and the caller puts it back where it was.

        Cancellation: blocks on the dbmanager (up to the persist timeout); a cancel leaves the
        job neither finishing nor retired, like a failure.
        """
        self.finishing[record.id] = prior
        try:
            stored = await self._store_final(record, logs)
        finally:
            self.finishing.pop(record.id, None)
        self._complete(stored, function)
        return stored

    def finish_later(self, record: JobRecord, function: Function | None, prior: JobRecord) -> None:
        """Like :meth:`finish`, for a final state nobody waits to hear about (a lost job): the
        job is finishing from now on, and is stored in the background, retried until stored."""
        self.finishing[record.id] = prior
        self.nursery.start_soon(self._finish_eventually, record, function)

    async def _finish_eventually(self, record: JobRecord, function: Function | None) -> None:
        """Store the final ``record`` of a job in :attr:`finishing`, retrying until stored.

        Cancellation: blocks until stored; a cancel leaves the store as it was (a restart
        reloads the job as running and loses it again).
        """
        try:
            while True:
                try:
                    stored = await self._store_final(record, "")
                    break
                except FaasError as exc:
                    log.warning("final state of job %s not stored yet: %s", record.id, exc)
                    await trio.sleep(1.0)
        finally:
            self.finishing.pop(record.id, None)
        self._complete(stored, function)

    async def _store_final(self, record: JobRecord, logs: str) -> JobRecord:
        try:
            reply = await self.db.call_retrying(
                FinishJob(record, logs), deadline=self.config.persist_timeout
            )
        except NotFound:
            log.info("job %s was deleted before it finished", record.id)
            return record
        _expect(reply, Changed)
        assert isinstance(reply, Changed)
        if reply.applied:
            return record
        # Another writer finished it first: its record is the truth.
        with trio.move_on_after(self.config.db_timeout):
            try:
                got = await self.db.call(GetJob(record.id), timeout=self.config.db_timeout)
            except FaasError:
                return record
            if isinstance(got, JobReply) and got.job.is_final:
                return got.job
        return record

    def _complete(self, record: JobRecord, function: Function | None) -> None:
        if function is not None:
            self.queue.retire(record, function)
        self.completions.finish(record)
        self.finished_total += 1
        self.metrics.observe_final(record)
        self.callbacks.send(record)
        if record.duration_ms is not None and record.state is not JobState.CANCELLED:
            self._durations.append(record.duration_ms)

    async def wait_finishing(self, job_id: str) -> JobRecord:
        """The final record of a job being finished by another request.

        Raises:
            PeerUnavailable: it could not be stored.

        Cancellation: only waits.
        """
        with trio.move_on_after(self.config.persist_timeout + 5.0):
            return await self.completions.wait(job_id)
        raise PeerUnavailable(f"the final state of job {job_id} could not be stored")

    # ---- start --------------------------------------------------------------------------

    async def load(self) -> None:
        """Take over the store's unfinished jobs (retrying until the dbmanager answers), then
        open for work: queued jobs join the queue oldest first; running ones stay leased to
        their recorded worker, which counts as seen now.

        Cancellation: blocks until the dbmanager answers; a cancel leaves nothing loaded.
        """
        backoff = 0.1
        while True:
            try:
                reply = await self.db.call(UnfinishedJobs(), timeout=self.config.db_timeout)
                _expect(reply, UnfinishedReply)
                break
            except FaasError as exc:
                log.warning("unfinished jobs not loaded yet (%s); retrying", exc)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        assert isinstance(reply, UnfinishedReply)
        functions: dict[tuple[str, str], Function] = {}
        for function in sorted(reply.functions, key=lambda f: f.version):
            functions[(function.user, function.name)] = function
        now = trio.current_time()
        for job in sorted(reply.jobs, key=lambda j: j.created_at):
            if self.known(job.id) is not None or job.is_final:
                continue
            found = functions.get((job.user, job.function))
            if found is None:
                failed = msgspec.structs.replace(
                    job, state=JobState.FAILED, result="function not found",
                    error="function not found", finished_at=time.time(),
                )
                self.finish_later(failed, None, job)
            elif job.state is JobState.QUEUED:
                self.enqueue(job, found, admitted=False)
            else:
                shared = self.queue.adopt(found, job.user, admitted=False)
                self.leases.grant(job, shared, job.worker or "unknown", now)
        log.info("loaded %d queued and %d running jobs", len(self.queue), self.leases.running)
        self.ready.set()
        self.dispatch_queued()
