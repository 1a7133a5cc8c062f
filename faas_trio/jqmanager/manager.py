"""The job state machine: every transition a job goes through while the jqmanager owns it.

::

                     submit
                       |
                       v        start (a worker slot takes it)
       +-----------> queued ------------------------------> running
       |               |   <-- requeue (lease lost, counted) --  |  |
       |               |   <-- hand back (drain, undelivered) -- |  |
       |             cancel                                 report  cancel (child killed)
       |               |                                        |   |
       |               v                                        v   v
       |           cancelled            succeeded | failed | timeout | cancelled
       |
       +-- requeue past max attempts: failed "worker lost"; function gone: failed

Final states never change again. :class:`JobManager` is the only code that moves a job: its
public methods are the transitions (:meth:`submit`, :meth:`dispatch`, :meth:`start`,
:meth:`report`, :meth:`requeue`, :meth:`hand_back`, :meth:`cancel`, finishing in
:meth:`_finish`) and the requests that lead to them (:meth:`next_job`, :meth:`heartbeat`,
:meth:`wait`, :meth:`load`); the RPC handlers only translate messages. The queue, leases and
slots it holds are pure data; it alone changes them.

All state lives in one trio thread, so a transition made between two awaits is atomic; a
method re-checks what it looked at before an await. Durability: a new job is stored before its
submission is answered; a final state is stored before anyone is told about it (a waiter, the
reporting worker, the canceller). If storing a final state fails, the job goes back where it
was taken from (:meth:`put_back`, the one compensation). Dispatches and requeues are answered
first and stored in the background, in order per job (:mod:`.writes`); a dispatch is stored
only if its job still runs half a second later.
"""

from __future__ import annotations

import logging

import trio

from ..core.errors import BadRequest, FaasError, NotFound, PeerUnavailable
from ..core.messages import Dispatch, NoJob, RequeueJob
from ..core.records import Function, JobRecord, JobState, Outcome, Submission
from ..core.retry import Backoff
from . import records
from .table import JobTable, Taken

__all__ = ["JobManager"]

log = logging.getLogger("faas.jqmanager")


class JobManager(JobTable):
    """The job state machine (see the module docstring); its in-memory moves are defined in
    its base, :class:`~.table.JobTable`."""

    async def wait(self, job_id: str, wait: float) -> JobRecord:
        """The job once final, or as it stands after ``wait`` seconds.

        Raises:
            NotFound: no such job.
            PeerUnavailable: the job is not ours and the dbmanager did not answer.

        Cancellation: only waits; the waiter is unregistered.
        """
        record = self.known(job_id)
        if record is None:
            stored = await self.db.get(job_id)
            record = self.known(job_id) or stored
        return await self.settle(record, wait)

    async def submit(self, job: Submission, wait: float) -> JobRecord:
        """Store and queue a new job; with ``wait`` > 0, answer once it is final or the wait
        ends. A repeated submission (same id or idempotency key) answers the known job.

        Raises:
            TooManyRequests: the queue, or the user's share of it, is full, or the user is
                over its calls per minute.
            PeerUnavailable: the dbmanager did not answer in time. It may have stored the job
                all the same: the request is then resent in the background until answered,
                and a job it stored runs (a client retries with the same idempotency key).
            NotFound: no such user or function (from the dbmanager).

        Cancellation: blocks while the job is stored, then while waiting. A cancel before the
        store answered withdraws the admission (the job may still be stored, and is loaded at
        the next start); after, the job stays queued.
        """
        await self.require_ready()
        record = self.known(job.id)
        if record is None:
            self.rate.take(job.user)
            self.queue.admit(job.user)
            # A sync call may run while it is stored (:mod:`.early`); that uses the admission.
            early = self.start_early(job) if wait > 0 else None
            admitted = early is None
            since = self.early.mark()
            try:
                try:
                    created = await self.db.create(job)
                except PeerUnavailable:
                    # It may be stored all the same (the dbmanager hung, or died before it
                    # answered): find out, so a stored job never waits unqueued until a restart.
                    self.unanswered.add(job)
                    raise
                self.early.remember(created.function, since)
                if early is not None:
                    record = self.confirm_early(*early, created)
                else:
                    record, taken = self._take_over(created, admitted=True)
                    admitted = not taken
            except BaseException as exc:
                if early is not None:
                    # Cancelled only if the store surely did not keep it: a job it may have
                    # stored runs again later, and a cancel (by id) could reach that run.
                    refused = isinstance(exc, FaasError) and not isinstance(exc, PeerUnavailable)
                    self.void_early(early[0], cancel=refused)
                raise
            finally:
                if early is not None:
                    self.early.end(job.id)
                if admitted:
                    self.queue.withdraw(job.user)
        return await self.settle(record, wait)

    async def next_job(
        self, worker: str, wait: float, max_jobs: int = 1, slot_number: int | None = None
    ) -> Dispatch | NoJob:
        """Work for a free slot of ``worker`` (up to ``max_jobs`` jobs of one function, at
        most :attr:`~.config.JqManagerConfig.max_batch`), or NoJob after ``wait`` seconds.
        Held requests are served in arrival order; a request of a numbered slot replaces the
        same slot's held one (see :meth:`.slots.ReadySlots.open`).

        Cancellation: blocks until a job arrives or the wait ends; a cancel closes the slot.
        A job handed to the slot just before the cancel stays leased, and the lease rules take
        it back when the worker's heartbeats do not list it.
        """
        deadline = trio.current_time() + max(0.0, wait)
        if not await self.until_ready(deadline - trio.current_time()):
            return NoJob()
        if self.leases.seen(worker, trio.current_time()).draining:
            return NoJob()
        most = max(1, min(max_jobs, self.config.max_batch))
        entries = self.queue.pop_batch(most)
        if entries:
            return self.start(entries, worker)
        slot = self.slots.open(worker, most, slot_number)
        try:
            with trio.move_on_at(deadline):
                await slot.event.wait()
        finally:
            self.slots.close(slot)
        return slot.dispatch or NoJob()

    async def heartbeat(
        self,
        worker: str,
        running: list[str],
        slots: int,
        draining: bool,
        wait: float,
        *,
        confinement: str = "",
    ) -> list[str]:
        """Record ``worker`` as alive, requeue leased jobs it lost track of, and return its
        pending cancels: at once if any, else when one arrives within ``wait`` seconds.

        Cancellation: blocks up to ``wait``; undelivered cancels stay pending.
        """
        state, lost = self.leases.heartbeat(worker, running, slots, draining, trio.current_time())
        state.confinement = confinement
        if draining:
            self.slots.close_worker(worker)
        for lease in lost:
            log.warning("job %s missing from worker %s; taken back", lease.job.id, worker)
            self.requeue(lease, "not running on its worker")
        if not state.cancels:
            with trio.move_on_after(max(0.0, wait)):
                await state.wakeup.wait()
        return state.take_cancels()

    async def watch_leases(self) -> None:
        """Every ``check_interval`` seconds, :meth:`check_leases`.

        Cancellation: runs until cancelled; nothing to clean up.
        """
        while True:
            await trio.sleep(self.config.check_interval)
            self.check_leases()

    async def report_many(self, worker: str, outcomes: list[Outcome]) -> None:
        """:meth:`report` for several outcomes of one worker: those that finish a job leased
        to it are stored in one batch (one ``FinishJobs``); the others (stale, handed back,
        not ours) go through :meth:`report` one by one.

        Raises:
            BadRequest: an outcome is ``running`` (nothing is changed).
            PeerUnavailable: final states could not be stored; those jobs are leased again.

        Cancellation: as :meth:`report`.
        """
        if any(outcome.state is JobState.RUNNING for outcome in outcomes):
            raise BadRequest("a report carries a final state, or queued to hand a job back")
        await self.require_ready()
        for outcome in outcomes:
            await self.early.settled(outcome.job_id)
        # Void early attempts are dropped here: hidden from this check, they are misread.
        outcomes = [o for o in outcomes if not self.early.is_void(o.job_id, o.attempt)]
        self.leases.seen(worker, trio.current_time())
        taken: list[Taken] = []
        final: list[JobRecord] = []
        others: list[Outcome] = []
        for outcome in outcomes:
            lease = self.leases.get(outcome.job_id)
            if (
                lease is None or lease.worker != worker or lease.job.attempts != outcome.attempt
                or outcome.state is JobState.QUEUED or outcome.job_id in self.finals.finishing
            ):  # fmt: skip
                others.append(outcome)
                continue
            self.leases.release(outcome.job_id)
            taken.append(Taken(lease.job, lease.function, lease))
            final.append(records.reported(lease.job, outcome, worker))
        logs = {o.job_id: o.logs for o in outcomes}
        await self.finish_many(taken, final, [logs[record.id] for record in final])
        for outcome in others:
            await self.report(worker, outcome)

    async def report(self, worker: str, outcome: Outcome) -> None:
        """running -> final as ``worker`` reported it (or -> queued for ``queued``: handed
        back). A stale report (the job is final, or a later attempt was dispatched) changes
        nothing. The result of a job requeued after its lease was lost still counts if it is
        of its latest attempt; a job this jqmanager does not hold is finished (or requeued)
        if the store has it unfinished (dispatched before a restart).

        Raises:
            BadRequest: the outcome is ``running``.
            PeerUnavailable: the final state could not be stored; the job is back where it
                was, so the worker's resend can try again.

        Cancellation: blocks while the final state is stored; a cancel puts the job back.
        """
        if outcome.state is JobState.RUNNING:
            raise BadRequest("a report carries a final state, or queued to hand a job back")
        await self.require_ready()
        await self.early.settled(outcome.job_id)
        if self.early.is_void(outcome.job_id, outcome.attempt):
            return
        self.leases.seen(worker, trio.current_time())
        job_id, handed_back = outcome.job_id, outcome.state is JobState.QUEUED
        while True:  # at most twice: again only if the job became ours while asking the store
            if job_id in self.finals.finishing:
                await self.finals.wait_for(job_id)
                return
            if self.finals.final(job_id) is not None:
                return
            if (lease := self.leases.get(job_id)) is not None:
                if lease.worker == worker and lease.job.attempts == outcome.attempt:
                    self.leases.release(job_id)
                    if handed_back:
                        self.hand_back(lease, "handed back by its worker")
                    else:
                        record = records.reported(lease.job, outcome, worker)
                        taken = Taken(lease.job, lease.function, lease)
                        await self._finish(taken, record, outcome.logs)
                return
            if (entry := self.queue.get(job_id)) is not None:
                if entry.job.attempts == outcome.attempt and not handed_back:
                    self.queue.remove(job_id)
                    record = records.reported(entry.job, outcome, worker)
                    await self._finish(Taken(entry.job, entry.function), record, outcome.logs)
                return
            try:
                stored = await self.db.get(job_id)
            except NotFound:
                return
            if self.known(job_id) is None:
                break
        if stored.is_final:
            return
        if not handed_back:
            record = records.reported(stored, outcome, worker)
            await self._finish(Taken(stored, None), record, outcome.logs)
            return
        function = await self.db.function(stored.user, stored.function)
        if self.known(job_id) is not None:
            return
        if function is None:
            await self._finish(
                Taken(stored, None), records.failed(stored, records.FUNCTION_NOT_FOUND)
            )
            return
        attempts = max(0, stored.attempts - 1)
        self.writes.send(
            job_id, RequeueJob(job_id, error="handed back by its worker", attempts=attempts)
        )
        self.adopt(records.queued_again(stored, attempts), function, admitted=False)

    async def cancel(self, job_id: str) -> JobRecord:
        """queued or running -> cancelled; answers the final record (a job already final is
        answered as it is). A running job's worker is told through its heartbeat; its later
        report is stale.

        Raises:
            NotFound: no such job.
            PeerUnavailable: the cancel could not be stored; the job is as before.

        Cancellation: blocks while the final state is stored; a cancel puts the job back as it
        was (a running job's worker may still get the cancel and report the job cancelled).
        """
        await self.require_ready()
        await self.early.settled(job_id)
        while True:  # at most twice: again only if the job became ours while asking the store
            if job_id in self.finals.finishing:
                return await self.finals.wait_for(job_id)
            final = self.finals.final(job_id)
            if final is not None:
                return final
            taken = self.take(job_id)
            if taken is not None:
                if taken.lease is not None:
                    self.leases.add_cancel(taken.lease.worker, job_id)
                return await self._finish(taken, records.cancelled(taken.job))
            stored = await self.db.get(job_id)
            if self.known(job_id) is None:
                break
        if stored.is_final:
            return stored
        return await self._finish(Taken(stored, None), records.cancelled(stored))

    async def finish_many(
        self, taken: list[Taken], final: list[JobRecord], logs: list[str] | None = None
    ) -> None:
        """:meth:`_finish` for many jobs just taken, stored in one batch (one message, one
        group commit). On failure every one of them is put back.

        Raises:
            PeerUnavailable, InternalError: not stored in time.

        Cancellation: as :meth:`_finish`.
        """
        if not taken:
            return
        try:
            priors = [each.job for each in taken]
            functions = [each.function for each in taken]
            await self.finals.store_many(priors, final, functions, logs or [""] * len(final))
        except BaseException:
            for each in taken:
                self.put_back(each)
            raise

    async def _finish(self, taken: Taken, record: JobRecord, logs: str = "") -> JobRecord:
        """-> final: store ``record`` for a job just taken, then retire it and wake its
        waiters. Returns the final record as stored (another writer's, if one came first).

        Raises:
            PeerUnavailable, InternalError: not stored in time; the job is put back.

        Cancellation: blocks on the dbmanager (up to the persist timeout); a cancel puts the
        job back, like a failure.
        """
        try:
            return await self.finals.store(taken.job, record, taken.function, logs)
        except BaseException:
            self.put_back(taken)
            raise

    async def load(self) -> None:
        """Take over the store's unfinished jobs (retrying until the dbmanager answers), then
        open for work: queued jobs join the queue oldest first; running ones stay leased to
        their recorded worker, which counts as seen now; a job whose function is gone fails.

        Cancellation: blocks until the dbmanager answers; a cancel leaves nothing loaded.
        """
        backoff = Backoff(0.1, 5.0)
        while True:
            try:
                reply = await self.db.unfinished()
                break
            except FaasError as exc:
                log.warning("unfinished jobs not loaded yet (%s); retrying", exc)
                await backoff.sleep()
        functions: dict[tuple[str, str], Function] = {}
        for function in sorted(reply.functions, key=lambda f: f.version):
            functions[(function.user, function.name)] = function
        for job in sorted(reply.jobs, key=lambda j: j.created_at):
            if self.known(job.id) is not None or job.is_final:
                continue
            found = functions.get((job.user, job.function))
            if found is None:
                self.finals.store_later(job, records.failed(job, records.FUNCTION_NOT_FOUND), None)
            else:
                self.adopt(job, found, admitted=False)
        log.info("loaded %d queued and %d running jobs", len(self.queue), self.leases.running)
        self.ready.set()
        self.dispatch()
