"""The worker's job loop: asks the jqmanager for jobs, runs them, reports them, obeys its
commands. The process around it (its warm pool, confinement, entry point) is :mod:`.main`.

Each of the ``concurrency`` slots keeps one ``NextJob`` request in flight and runs the jobs it
gets: up to :data:`MAX_JOBS_PER_ASK` queued jobs of one function at once (the jqmanager decides
how many, ``FAAS_MAX_BATCH``), sent to one warm child in one frame and run there back to
back (:mod:`.execution`). Their outcomes are reported together, one ``Report`` per
:data:`REPORT_DELAY` at most, so a batch of quick calls costs one message each way while a
slow call does not hold back the results before it.
A heartbeat task tells the jqmanager which jobs run here and receives ``Commands``;
a cancel kills that job's child and reports it ``cancelled``. Every outcome is reported with
``Report`` and resent until the jqmanager answers ``Done``: a result is never dropped while
the worker lives.

Shutdown (a cancel of :func:`.main.serve`, e.g. SIGTERM) drains: no new work is
taken, running jobs get ``drain_timeout`` seconds to finish, then their children are killed and
they are reported ``queued`` (handed back to be run elsewhere), best effort within a short
grace, and only then does the cancel propagate.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field

import trio

from ..core.errors import (
    FaasError,
    InternalError,
    PeerUnavailable,
    ProtocolError,
    TooManyRequests,
)
from ..core.messages import Dispatch, Heartbeat, NextJob, NoJob, Report
from ..core.records import JobState, Outcome
from ..core.retry import Backoff
from ..core.rpc import Client
from .config import WorkerConfig
from .execution import BatchItem, run_batch
from .pool import WarmPool

__all__ = ["Worker", "new_worker_id"]

log = logging.getLogger("faas.worker")

#: Jobs one slot asks for at once; the jqmanager gives at most its ``FAAS_MAX_BATCH``.
MAX_JOBS_PER_ASK = 64
#: How long a finished outcome may wait for others of its batch before it is reported, s.
REPORT_DELAY = 0.005
#: How long the jqmanager may hold a NextJob request, seconds.
NEXT_JOB_WAIT = 10.0
#: How long the jqmanager may hold a Heartbeat, seconds.
HEARTBEAT_WAIT = 1.0
#: How long a heartbeat may take beyond its hold before the jqmanager counts as gone, seconds.
HEARTBEAT_SLACK = 1.0
#: Shortest time between two heartbeats that carried no command, seconds.
HEARTBEAT_MIN_INTERVAL = 0.25
#: Deadline of one Report attempt, seconds.
REPORT_TIMEOUT = 5.0
#: How long telling the jqmanager of a drain, and its answers to our held requests for work,
#: may take, seconds.
DRAIN_NOTICE_TIMEOUT = 1.0
#: After the drain timeout, how long the reports of handed-back jobs may take, seconds.
REPORT_GRACE = 2.0


def new_worker_id() -> str:
    """``<hostname>-<pid>-<6 random hex digits>``: unique, and says where the worker runs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _backoff() -> Backoff:
    """Pauses between retries of a request to the jqmanager: 0.1 s doubling up to 2 s."""
    return Backoff(0.1, 2.0)


@dataclass(eq=False)
class _Running(BatchItem):
    #: Around the batch's run and report, shielded so that a shutdown drains instead of
    #: killing (one scope for the whole batch).
    scope: trio.CancelScope = field(default_factory=lambda: trio.CancelScope(shield=True))


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        jq: Client,
        pool: WarmPool,
        worker_id: str,
        confinement: str = "",
    ) -> None:
        self.config = config
        self.jq = jq
        self.pool = pool
        self.id = worker_id
        #: What its heartbeats say of its sandboxes' confinement (see ``Heartbeat``).
        self.confinement = confinement
        self.running: dict[str, _Running] = {}
        self.draining = False
        self._asking: set[trio.CancelScope] = set()
        self._asks_changed = trio.Event()
        self._jobs_changed = trio.Event()

    async def slot(self, number: int) -> None:
        """Ask for jobs, run them, report them; again until draining. ``number`` names the
        slot to the jqmanager, so that a request it abandoned is replaced, not served.

        Cancellation: an ask is abandoned (the request is forgotten); a job in progress is
        shielded and ends only through its own scopes (see :meth:`drain`).
        """
        backoff = _backoff()
        while not self.draining:
            reply = None
            with trio.CancelScope() as ask:
                self._asking.add(ask)
                try:
                    request = NextJob(self.id, NEXT_JOB_WAIT, MAX_JOBS_PER_ASK, slot=number)
                    reply = await self.jq.call(request, timeout=NEXT_JOB_WAIT + 5)
                except FaasError as exc:
                    if not isinstance(exc, PeerUnavailable):
                        log.warning("NextJob failed: %s", exc)
                    await backoff.sleep()
                    continue
                finally:
                    self._asking.discard(ask)
                    self._asks_changed.set()
            if isinstance(reply, Dispatch):
                backoff.reset()
                await self._run_batch(reply)
            elif isinstance(reply, NoJob):
                backoff.reset()

    async def _run_batch(self, dispatch: Dispatch) -> None:
        """Run the jobs of one dispatch back to back and report them (jobs arriving while
        draining are handed back at once). Every job of the batch is listed as running here
        from the start, so that the jqmanager's lease rules do not take the waiting ones back.

        Cancellation: an outer cancel does not reach in (shielded); each job's ``run_scope``
        kills its child (cancel command, end of drain); the batch's ``scope`` abandons the rest
        and the reports too.
        """
        scope = trio.CancelScope(shield=True)
        entries = [
            _Running(Dispatch(job, dispatch.function), time.time(), scope=scope)
            for job in (dispatch.job, *dispatch.more)
        ]
        for entry in entries:
            self.running[entry.dispatch.job.id] = entry
        send, receive = trio.open_memory_channel[Outcome](len(entries))
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._report_as_they_come, receive)
                    async with send:
                        await run_batch(
                            self.pool, entries, send.send, log_cap=self.config.log_cap,
                            result_cap=self.config.result_cap, draining=lambda: self.draining,
                        )  # fmt: skip
        finally:
            for entry in entries:
                job_id = entry.dispatch.job.id
                if self.running.get(job_id) is entry:  # a newer attempt of the job may run
                    del self.running[job_id]
            self._jobs_changed.set()

    async def _report_as_they_come(self, outcomes: trio.MemoryReceiveChannel[Outcome]) -> None:
        """Report each outcome that arrives, at most :data:`REPORT_DELAY` after it came,
        together with those that came meanwhile; until the channel is closed.

        Cancellation: stops; outcomes not yet reported are lost (only at the end of a drain).
        """
        async with outcomes:
            async for first in outcomes:
                batch = [first]
                with trio.move_on_after(REPORT_DELAY):
                    while True:
                        try:
                            batch.append(await outcomes.receive())
                        except trio.EndOfChannel:
                            break
                await self._report(batch)

    async def _report(self, outcomes: list[Outcome]) -> None:
        """Send ``outcomes`` (one message) until the jqmanager answers Done, backing off up
        to 2 s.

        Cancellation: stops resending; the outcome is lost (only at the end of a drain).
        """
        backoff = _backoff()
        while True:
            try:
                report = Report(self.id, outcomes[0], more=outcomes[1:])
                await self.jq.call(report, timeout=REPORT_TIMEOUT)
            except (PeerUnavailable, InternalError, TooManyRequests, ProtocolError):
                await backoff.sleep()
                continue
            except FaasError as exc:
                log.warning("report of job %s refused: %s", outcomes[0].job_id, exc)
                return
            return

    def cancel(self, job_id: str) -> None:
        """Stop ``job_id`` if it is here: the child running it is killed (a job sent to a
        child in a batch frame is killed when its turn comes; one not sent never runs); it
        is reported cancelled."""
        entry = self.running.get(job_id)
        if entry is not None:
            entry.stop_state = JobState.CANCELLED
            entry.run_scope.cancel()

    async def heartbeat(self) -> None:
        """Tell the jqmanager what runs here, and carry out the cancels it answers with.

        Cancellation: a plain loop of RPCs, each bounded by its timeout.
        """
        backoff = _backoff()
        while True:
            sent = trio.current_time()
            beat = Heartbeat(
                worker=self.id,
                running=list(self.running),
                slots=self.config.concurrency,
                wait=HEARTBEAT_WAIT,
                draining=self.draining,
                confinement=self.confinement,
            )
            try:
                reply = await self.jq.call(beat, timeout=HEARTBEAT_WAIT + HEARTBEAT_SLACK)
            except FaasError as exc:
                log.debug("heartbeat failed: %s", exc)
                # The jqmanager may have died with our held requests for work, which would
                # wait out their own deadlines; ask again, so a restarted one gets them.
                self.renew_asks()
                await backoff.sleep()
                continue
            backoff.reset()
            if reply.cancel:
                for job_id in reply.cancel:
                    self.cancel(job_id)
                continue
            await trio.sleep_until(sent + HEARTBEAT_MIN_INTERVAL)

    def renew_asks(self) -> None:
        """Abandon the requests for work in flight; each slot sends a fresh one at once."""
        for ask in list(self._asking):
            ask.cancel()

    async def _announce_drain(self) -> None:
        """Tell the jqmanager that this worker drains, so that it answers our held requests for
        work (NoJob, or a job it had just handed to one, which :meth:`_run` hands back), and
        wait for those answers; then abandon any request still out.

        Abandoning a held request first would drop a job handed to it meanwhile: the job would
        stay leased here, unrun, until the lease rules took it back as a lost attempt.

        Cancellation: bounded by :data:`DRAIN_NOTICE_TIMEOUT`; then, or on a cancel, the
        requests still out are abandoned.
        """
        beat = Heartbeat(
            worker=self.id,
            running=list(self.running),
            slots=self.config.concurrency,
            wait=0.0,
            draining=True,
            confinement=self.confinement,
        )
        try:
            with trio.move_on_after(DRAIN_NOTICE_TIMEOUT):
                await self.jq.call(beat, timeout=DRAIN_NOTICE_TIMEOUT)
                while self._asking:
                    self._asks_changed = trio.Event()
                    await self._asks_changed.wait()
        except FaasError as exc:
            log.debug("drain notice failed: %s", exc)
        finally:
            self.renew_asks()

    async def _wait_for_no_jobs(self) -> None:
        """Cancellation: stops waiting; jobs are unaffected."""
        while self.running:
            self._jobs_changed = trio.Event()
            await self._jobs_changed.wait()

    async def drain(self) -> None:
        """Stop taking work; give running jobs ``drain_timeout`` s, then hand them back.

        Cancellation: the waits are cut short; :meth:`stop_all` ends whatever is left.
        """
        self.draining = True
        with trio.move_on_after(self.config.drain_timeout):
            await self._announce_drain()
            await self._wait_for_no_jobs()
        for entry in self.running.values():
            entry.stop_state = entry.stop_state or JobState.QUEUED
            entry.run_scope.cancel()
        with trio.move_on_after(REPORT_GRACE):
            await self._wait_for_no_jobs()
        self.stop_all()

    def stop_all(self) -> None:
        """End every job task now: runs are killed, unsent reports abandoned."""
        for entry in self.running.values():
            entry.scope.cancel()
