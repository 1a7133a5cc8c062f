"""Maps: one function over many inputs, as a group of ordinary jobs.

:class:`MapManager` is what the jqmanager does with a group as a whole. Each item is an
ordinary job of the state machine (:class:`~.manager.JobManager`), admitted, queued, run and
finished like any other; a group adds only: its items are admitted and stored in one batch
(one ``CreateGroup``), its finishes are logged for watchers (:class:`~.groups.GroupTracker`),
and a cancel takes all its unfinished items at once and stores their final states in one
batch. Limits count items: a map of n items takes n of its user's active jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from ..core.errors import PeerUnavailable
from ..core.groups import group_jobs
from ..core.messages import GroupCreated, GroupProgress
from ..core.records import GroupRecord
from . import records
from .manager import JobManager

__all__ = ["MapManager"]

log = logging.getLogger("faas.jqmanager")


#: Items of a new group queued between two turns of the event loop: queueing 100,000 at once
#: held the loop for seconds on 2 busy CPUs, long enough for workers' heartbeats to time out
#: (their held requests for work were then abandoned, and the jobs handed to them lost).
ADOPT_SLICE = 1000


class MapManager:
    """Group operations over ``jobs``, the job state machine."""

    def __init__(self, jobs: JobManager) -> None:
        self.jobs = jobs
        #: Groups whose items are being queued (a slice at a time), set once all are.
        self._adopting: dict[str, trio.Event] = {}

    async def submit(self, group: GroupRecord, args: list[str]) -> tuple[GroupRecord, bool]:
        """Admit, store and queue one job per item of ``args`` as ``group``; the group as
        stored, and whether it existed already (a repeated submission: nothing new queued).

        Raises:
            TooManyRequests: the queue, or the user's share of it, has no room for every
                item (nothing is queued), or the user is over its submissions per minute.
            PeerUnavailable: the dbmanager did not answer in time; the submission is resent
                in the background until answered, so a stored group runs.
            NotFound: no such user or function.

        Cancellation: blocks while the group is stored. A cancel before the store answered
        withdraws the admissions (a group stored all the same is loaded at the next start).
        """
        jobs = self.jobs
        await jobs.require_ready()
        if jobs.groups.remaining(group.id) is not None:
            # A repeat of a group held here (a retried request): answered, not admitted again.
            created = await jobs.db.create_group(group, args)
            await self._take_over(created, args, admitted=0)
            return created.group, created.existing
        count = len(args)
        jobs.rate.take(group.user)
        jobs.queue.admit(group.user, count)
        admitted = count
        try:
            try:
                created = await jobs.db.create_group(group, args)
            except PeerUnavailable:
                # It may be stored all the same: resent, bounded, until answered.
                jobs.unanswered.add_group(group, args, jobs.db.create_group, self._late(args))
                raise
            admitted -= await self._take_over(created, args, admitted=admitted)
        finally:
            if admitted:
                jobs.queue.withdraw(group.user, admitted)
        return created.group, created.existing

    def _late(self, args: list[str]) -> Callable[[GroupCreated], Awaitable[None]]:
        """What to do with the answer to a ``CreateGroup`` resent after a 503: own its items
        (``args`` are the group's arguments)."""

        async def take_over(created: GroupCreated) -> None:
            if not created.existing:
                log.info("group %s, unanswered at submission, was stored", created.group.id)
            await self._take_over(created, args, admitted=0)

        return take_over

    async def _take_over(
        self, created: GroupCreated, args: list[str], *, admitted: int
    ) -> int:
        """Own the stored group's unfinished items not owned yet, :data:`ADOPT_SLICE` at a
        time with a turn of the event loop in between (workers are served meanwhile); how
        many admissions that used up (at most ``admitted``).

        Cancellation: not cancellable (shielded turns): every item is owned when it returns.
        """
        total = len(created.unfinished) if created.existing else len(args)
        group_id = created.group.id
        self._adopting[group_id] = adopted = self._adopting.get(group_id) or trio.Event()
        try:
            used = await self._adopt_slices(created, args, total, admitted)
        finally:
            adopted.set()
            if self._adopting.get(group_id) is adopted:
                del self._adopting[group_id]
        return min(used, admitted)

    async def _adopt_slices(
        self, created: GroupCreated, args: list[str], total: int, admitted: int
    ) -> int:
        jobs = self.jobs
        used = 0
        for start in range(0, total, ADOPT_SLICE):
            if created.existing:
                items = created.unfinished[start : start + ADOPT_SLICE]
            else:
                chunk = args[start : start + ADOPT_SLICE]
                items = group_jobs(created.group, chunk, created.function, start)
            for job in items:
                if jobs.known(job.id) is not None or job.is_final:
                    continue
                jobs.adopt(job, created.function, admitted=used < admitted, dispatch=False)
                used += 1
            jobs.dispatch()
            if start + ADOPT_SLICE < total:
                await trio.lowlevel.cancel_shielded_checkpoint()
        return used

    async def watch(
        self, group_id: str, after: int, wait: float, *, until_done: bool
    ) -> GroupProgress:
        """See :meth:`.groups.GroupTracker.watch`; waits for the jobs to be loaded first.

        Cancellation: only waits.
        """
        await self.jobs.until_ready(wait)
        return await self.jobs.groups.watch(group_id, after, wait, until_done=until_done)

    async def cancel(self, group_id: str) -> int:
        """Cancel every item of ``group_id`` held here and not final (running ones are killed
        by their workers); their final states are stored in one batch. Returns how many.

        Raises:
            PeerUnavailable: the cancels could not be stored; every item is back as it was.

        Cancellation: blocks while the final states are stored; a cancel puts the items back.
        """
        jobs = self.jobs
        await jobs.require_ready()
        adopting = self._adopting.get(group_id)
        if adopting is not None:  # so that no item is queued after the cancel took the others
            await adopting.wait()
        taken = [jobs.take(job_id) for job_id in jobs.queue.of_group(group_id)]
        taken += [jobs.take(job_id) for job_id in jobs.leases.of_group(group_id)]
        owned = [each for each in taken if each is not None]
        for each in owned:
            if each.lease is not None:
                jobs.leases.add_cancel(each.lease.worker, each.job.id)
        await jobs.finish_many(owned, [records.cancelled(each.job) for each in owned])
        return len(owned)
