"""The worker table: who is alive, with how many slots, holding which jobs.

Pure data: times are passed in (``now`` is ``trio.current_time()`` in the server), so the
rules are checked with any clock.

A worker is alive while it was heard from (a heartbeat, a request for work or a report) within
the lease timeout. Each running job is leased to one worker; a lease is lost when its worker
dies, or when the worker's heartbeats leave the job out twice in a row once the dispatch had
time to arrive (the worker never got it). The table also holds each worker's pending cancels,
with an event that wakes its held heartbeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import trio

from ..core.records import Function, JobRecord

__all__ = ["JobLease", "LeaseTable", "WorkerState"]

#: Consecutive heartbeats without a leased job after which the job is taken back.
MISSING_HEARTBEATS = 2


@dataclass(slots=True)
class JobLease:
    """A running job: its record as dispatched, the function it runs, and its worker."""

    job: JobRecord
    function: Function
    worker: str
    granted_at: float
    #: Heartbeats in a row that left the job out (after the dispatch grace).
    missing: int = 0


@dataclass(slots=True)
class WorkerState:
    """What is known of one live worker."""

    name: str
    last_seen: float
    slots: int = 0
    draining: bool = False
    #: The confinement its sandboxes get, as its heartbeats say (for the metric).
    confinement: str = ""
    leases: dict[str, JobLease] = field(default_factory=dict)
    #: Jobs the worker must cancel, delivered by its next heartbeat reply.
    cancels: list[str] = field(default_factory=list)
    #: Set when a cancel arrives; replaced by a fresh event once consumed.
    wakeup: trio.Event = field(default_factory=trio.Event)

    def take_cancels(self) -> list[str]:
        """The pending cancels, now delivered; rearms :attr:`wakeup`."""
        cancels, self.cancels = self.cancels, []
        if self.wakeup.is_set():
            self.wakeup = trio.Event()
        return cancels


class LeaseTable:
    """Live workers and the jobs leased to them, by worker and by job."""

    def __init__(self, *, lease_timeout: float, dispatch_grace: float) -> None:
        self.lease_timeout = lease_timeout
        self.dispatch_grace = dispatch_grace
        self._workers: dict[str, WorkerState] = {}
        self._by_job: dict[str, JobLease] = {}

    def seen(self, worker: str, now: float) -> WorkerState:
        """Record that ``worker`` is alive at ``now`` (adding it if new); its state."""
        state = self._workers.get(worker)
        if state is None:
            state = self._workers[worker] = WorkerState(worker, now)
        else:
            state.last_seen = max(state.last_seen, now)
        return state

    def grant(self, job: JobRecord, function: Function, worker: str, now: float) -> JobLease:
        """Lease ``job`` (its record as running) to ``worker``, which counts as seen now."""
        lease = JobLease(job, function, worker, now)
        self.seen(worker, now).leases[job.id] = lease
        self._by_job[job.id] = lease
        return lease

    def get(self, job_id: str) -> JobLease | None:
        return self._by_job.get(job_id)

    def release(self, job_id: str) -> JobLease | None:
        """End the lease on ``job_id`` (finished, cancelled, handed back); None if none."""
        lease = self._by_job.pop(job_id, None)
        if lease is not None:
            state = self._workers.get(lease.worker)
            if state is not None:
                state.leases.pop(job_id, None)
        return lease

    def heartbeat(
        self, worker: str, running: Iterable[str], slots: int, draining: bool, now: float
    ) -> tuple[WorkerState, list[JobLease]]:
        """Record a heartbeat; returns the worker's state and the leases it lost because the
        job was missing from :data:`MISSING_HEARTBEATS` heartbeats in a row (released)."""
        state = self.seen(worker, now)
        state.slots = max(0, slots)
        state.draining = draining
        present = set(running)
        lost: list[JobLease] = []
        for lease in list(state.leases.values()):
            if lease.job.id in present:
                lease.missing = 0
            elif now - lease.granted_at >= self.dispatch_grace:
                lease.missing += 1
                if lease.missing >= MISSING_HEARTBEATS:
                    lost.append(lease)
        for lease in lost:
            self.release(lease.job.id)
        return state, lost

    def of_group(self, group_id: str) -> list[str]:
        """The ids of the leased items of group ``group_id`` (a scan: for cancels)."""
        return [job_id for job_id, lease in self._by_job.items() if lease.job.group_id == group_id]

    def add_cancel(self, worker: str, job_id: str) -> None:
        """Ask ``worker`` (if alive) to cancel ``job_id`` and wake its held heartbeat."""
        state = self._workers.get(worker)
        if state is not None:
            state.cancels.append(job_id)
            state.wakeup.set()

    def expire(self, now: float) -> list[WorkerState]:
        """Remove the workers not heard from within the lease timeout, with their leases;
        returns them (each still listing the leases it lost)."""
        dead = [w for w in self._workers.values() if now - w.last_seen > self.lease_timeout]
        for state in dead:
            del self._workers[state.name]
            for job_id in state.leases:
                self._by_job.pop(job_id, None)
            # Wake its held heartbeat, so it answers now rather than at its deadline.
            state.wakeup.set()
        return dead

    @property
    def running(self) -> int:
        """Jobs leased, over all workers."""
        return len(self._by_job)

    @property
    def alive(self) -> int:
        return len(self._workers)

    def confinements(self) -> dict[str, int]:
        """Live workers by the confinement their heartbeats reported (``""``: not yet)."""
        counts: dict[str, int] = {}
        for state in self._workers.values():
            counts[state.confinement] = counts.get(state.confinement, 0) + 1
        return counts

    @property
    def slots(self) -> int:
        """Slots of the live workers, summed."""
        return sum(w.slots for w in self._workers.values())

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._by_job
