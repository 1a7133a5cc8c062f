"""The queue of jobs waiting for a worker, the per-user admission counts, and the source cache.

Pure data: no I/O and no waiting, so every rule here is checked without a clock or a socket.

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
    """FIFO of queued jobs, with front insertion for requeues and removal by id.

    Every operation is O(1). Admission (:meth:`admit`) reserves the place a job will take so
    that concurrent submissions cannot overshoot the limits while they are being persisted.
    """

    def __init__(self, *, max_queue: int, user_max_active: int) -> None:
        self.max_queue = max_queue
        self.user_max_active = user_max_active
        self.sources = SourceCache()
        self._queue: OrderedDict[str, QueuedJob] = OrderedDict()
        self._active: dict[str, int] = {}
        self._reserved = 0

    # ---- admission ----------------------------------------------------------------------

    def admit(self, user: str) -> None:
        """Reserve a queue place and one of ``user``'s active jobs for a new submission.

        Raises:
            TooManyRequests: the queue is full, or ``user`` has too many active jobs.
        """
        if len(self._queue) + self._reserved >= self.max_queue:
            raise TooManyRequests("the job queue is full", retry_after=1.0)
        if self._active.get(user, 0) >= self.user_max_active:
            raise TooManyRequests(
                f"user {user!r} has {self.user_max_active} jobs queued or running",
                retry_after=1.0,
            )
        self._reserved += 1
        self._active[user] = self._active.get(user, 0) + 1

    def withdraw(self, user: str) -> None:
        """Give back an admission that will not become a job (persisting failed, or the job
        turned out to be known already)."""
        self._reserved = max(0, self._reserved - 1)
        self._decrement(user)

    # ---- jobs ---------------------------------------------------------------------------

    def push(self, job: JobRecord, function: Function, *, admitted: bool) -> QueuedJob:
        """Append a job that is new to the queue; ``admitted`` says whether :meth:`admit`
        reserved its place (jobs reloaded at start were not admitted)."""
        if admitted:
            self._reserved = max(0, self._reserved - 1)
        else:
            self._active[job.user] = self._active.get(job.user, 0) + 1
        entry = QueuedJob(job, self.sources.acquire(function))
        self._queue[job.id] = entry
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
        """Put a job that is already counted (it was running) at the head of the queue."""
        self._queue[job.id] = QueuedJob(job, function)
        self._queue.move_to_end(job.id, last=False)

    def pop(self) -> QueuedJob | None:
        """The oldest queued job, removed from the queue (it stays counted), or None."""
        if not self._queue:
            return None
        return self._queue.popitem(last=False)[1]

    def remove(self, job_id: str) -> QueuedJob | None:
        """Take a queued job out of the queue (it stays counted), or None if not queued."""
        return self._queue.pop(job_id, None)

    def get(self, job_id: str) -> QueuedJob | None:
        return self._queue.get(job_id)

    def retire(self, job: JobRecord, function: Function) -> None:
        """A counted job became final: it no longer counts, nor holds its function."""
        self._decrement(job.user)
        self.sources.release(function)

    def active(self, user: str) -> int:
        """``user``'s queued, running and admitted jobs."""
        return self._active.get(user, 0)

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._queue

    def _decrement(self, user: str) -> None:
        count = self._active.get(user, 0) - 1
        if count > 0:
            self._active[user] = count
        else:
            self._active.pop(user, None)
