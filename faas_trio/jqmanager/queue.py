"""The queue of jobs waiting for a worker, the per-user admission counts, and the source cache.

Pure data: no I/O and no waiting, so every rule here is checked without a clock or a socket.

Fair across users: each user has a FIFO of its own, and the queue serves users in turn (round
robin), so one user's 100,000-item map delays another user's single call by one job, not by
the map. Within a user, jobs run oldest first.

A job counts against its user from admission until it is retired (final), whether it is queued
or running meanwhile; only queued jobs (and admissions still being persisted) count against the
global queue limit. Function sources are shared: every job of ``(user, name, version)`` points
at one :class:`~faas_trio.core.messages.Function`, kept while any known job needs it, so a
queued job costs its record and a few pointers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..core.errors import TooManyRequests
from ..core.records import Function, JobRecord

__all__ = ["FunctionKey", "JobQueue", "QueuedJob", "SourceCache"]

#: ``(user, name, version)``: one version of one function.
FunctionKey = tuple[str, str, int]


def _key(function: Function) -> FunctionKey:
    return (function.user, function.name, function.version)


class SourceCache:
    """Functions shared by the jobs that call them, counted so unused ones are dropped."""

    def __init__(self) -> None:
        self._functions: dict[FunctionKey, tuple[Function, int]] = {}

    def acquire(self, function: Function) -> Function:
        """The shared copy of ``function`` (``function`` itself if it is the first, or if it
        carries a newer build or other secrets than the shared one, which it then replaces),
        counted once more; every call must be matched by one :meth:`release`."""
        key = _key(function)
        shared, count = self._functions.get(key, (function, 0))
        if shared.build != function.build or shared.sealed != function.sealed:
            shared = function
        self._functions[key] = (shared, count + 1)
        return shared

    def release(self, function: Function) -> None:
        """One job less needs ``function``; the last one drops it. Unknown ones are ignored."""
        key = _key(function)
        entry = self._functions.get(key)
        if entry is None:
            return
        shared, count = entry
        if count <= 1:
            del self._functions[key]
        else:
            self._functions[key] = (shared, count - 1)

    def __len__(self) -> int:
        return len(self._functions)


@dataclass(slots=True)
class QueuedJob:
    """A queued job and the function it calls (the shared copy)."""

    job: JobRecord
    function: Function


class JobQueue:
    """Per-user FIFOs served in turn, with front insertion for requeues and removal by id.

    Every operation is O(1) per job. Admission (:meth:`admit`) reserves the places jobs will
    take so that concurrent submissions cannot overshoot the limits while being persisted.
    Limits count jobs (a map of n items is n jobs).
    """

    def __init__(self, *, max_queue: int, user_max_active: int) -> None:
        self.max_queue = max_queue
        self.user_max_active = user_max_active
        self.sources = SourceCache()
        self._jobs: dict[str, QueuedJob] = {}
        #: Each user's queued job ids, oldest first; users in the order they are served.
        self._turns: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self._active: dict[str, int] = {}
        self._reserved = 0

    # ---- admission ----------------------------------------------------------------------

    def admit(self, user: str, count: int = 1) -> None:
        """Reserve ``count`` queue places and as many of ``user``'s active jobs for a new
        submission (a job, or a map of ``count`` items).

        Raises:
            TooManyRequests: the queue is full, or ``user`` would have too many active jobs.
        """
        if len(self._jobs) + self._reserved + count > self.max_queue:
            raise TooManyRequests(
                f"the job queue is full ({self.max_queue} jobs queued at most: FAAS_MAX_QUEUE)",
                retry_after=1.0,
            )
        active = self._active.get(user, 0)
        if active + count > self.user_max_active:
            raise TooManyRequests(
                f"user {user!r} has {active} jobs queued or running and may have"
                f" {self.user_max_active} (FAAS_USER_MAX_ACTIVE counts every item of a map)",
                retry_after=1.0,
            )
        self._reserved += count
        self._active[user] = active + count

    def withdraw(self, user: str, count: int = 1) -> None:
        """Give back admissions that will not become jobs (persisting failed, or the jobs
        turned out to be known already)."""
        self._reserved = max(0, self._reserved - count)
        self._decrement(user, count)

    # ---- jobs ---------------------------------------------------------------------------

    def push(self, job: JobRecord, function: Function, *, admitted: bool) -> QueuedJob:
        """Append a job that is new to the queue; ``admitted`` says whether :meth:`admit`
        reserved its place (jobs reloaded at start were not admitted)."""
        if admitted:
            self._reserved = max(0, self._reserved - 1)
        else:
            self._active[job.user] = self._active.get(job.user, 0) + 1
        entry = QueuedJob(job, self.sources.acquire(function))
        self._enqueue(entry, front=False)
        return entry

    def adopt(self, function: Function, user: str, *, admitted: bool) -> Function:
        """Count a job that is running rather than queued (reloaded, or found running in the
        store); returns the shared copy of its function."""
        if admitted:
            self._reserved = max(0, self._reserved - 1)
        else:
            self._active[user] = self._active.get(user, 0) + 1
        return self.sources.acquire(function)

    def push_front(self, job: JobRecord, function: Function) -> None:
        """Put a job that is already counted (it was running) at the head of its user's
        queue, and its user first in turn."""
        self._enqueue(QueuedJob(job, function), front=True)

    def _enqueue(self, entry: QueuedJob, *, front: bool) -> None:
        job_id, user = entry.job.id, entry.job.user
        self._jobs[job_id] = entry
        mine = self._turns.get(user)
        if mine is None:
            mine = self._turns[user] = OrderedDict()
        mine[job_id] = None
        if front:
            mine.move_to_end(job_id, last=False)
            self._turns.move_to_end(user, last=False)

    def pop(self) -> QueuedJob | None:
        """The oldest queued job of the user whose turn it is, removed from the queue (it
        stays counted), or None."""
        batch = self.pop_batch(1)
        return batch[0] if batch else None

    def pop_batch(self, most: int) -> list[QueuedJob]:
        """Up to ``most`` jobs of the user whose turn it is, oldest first, all calling the
        same version of one function (those at the head of the user's queue); the user's
        turn then passes to the next one. Empty if nothing is queued."""
        if not self._turns:
            return []
        user, mine = next(iter(self._turns.items()))
        taken: list[QueuedJob] = []
        key: FunctionKey | None = None
        while mine and len(taken) < max(1, most):
            job_id = next(iter(mine))
            entry = self._jobs[job_id]
            if key is not None and _key(entry.function) != key:
                break
            key = _key(entry.function)
            del mine[job_id], self._jobs[job_id]
            taken.append(entry)
        if mine:
            self._turns.move_to_end(user)
        else:
            del self._turns[user]
        return taken

    def remove(self, job_id: str) -> QueuedJob | None:
        """Take a queued job out of the queue (it stays counted), or None if not queued."""
        entry = self._jobs.pop(job_id, None)
        if entry is not None:
            mine = self._turns[entry.job.user]
            del mine[job_id]
            if not mine:
                del self._turns[entry.job.user]
        return entry

    def get(self, job_id: str) -> QueuedJob | None:
        return self._jobs.get(job_id)

    def of_group(self, group_id: str) -> list[str]:
        """The ids of the queued items of group ``group_id`` (a scan: for cancels)."""
        return [job_id for job_id, entry in self._jobs.items() if entry.job.group_id == group_id]

    def retire(self, job: JobRecord, function: Function) -> None:
        """A counted job became final: it no longer counts, nor holds its function."""
        self._decrement(job.user, 1)
        self.sources.release(function)

    def active(self, user: str) -> int:
        """``user``'s queued, running and admitted jobs."""
        return self._active.get(user, 0)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def _decrement(self, user: str, count: int) -> None:
        left = self._active.get(user, 0) - count
        if left > 0:
            self._active[user] = left
        else:
            self._active.pop(user, None)
