"""What the MongoDB store keeps in memory so that a job costs fewer round trips: the functions
jobs are created for (:class:`FunctionCache`) and the jobs it finished (:class:`FinalJobs`).

Both hold what this store itself wrote or read, and are kept true to its own later writes by
their callers (:class:`~.mongo_apply.BatchWriter`, :class:`~.mongo.MongoStore`). An entry is
trusted for a bounded time, which bounds how long a change made by another writer of the same
database may go unseen. Both are bounded in size. No I/O here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from ..core.records import Function, JobRecord
from .mongo_documents import Doc, function_from_doc, with_sealed

__all__ = ["OUTCOME_FIELDS", "FinalJobs", "FunctionCache"]

#: The fields of a job a finish writes: its outcome, never its submission.
OUTCOME_FIELDS = (
    "state", "result", "value", "error", "attempts", "worker", "cold_start", "init_ms",
    "started_at", "finished_at", "duration_ms",
)  # fmt: skip


class FunctionCache:
    """The functions jobs were created for, by ``(user, name)``, as this store last wrote or
    read them, each trusted for ``ttl`` seconds; this store's own changes update it at once
    (:meth:`put`, :meth:`drop`)."""

    def __init__(self, ttl: float = 10.0, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[tuple[str, str], tuple[Function, float]] = {}

    def get(self, user: str, name: str) -> Function | None:
        entry = self._entries.get((user, name))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, function: Function) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()  # rare: a cold cache costs one read per function
        self._entries[function.user, function.name] = (function, time.monotonic() + self._ttl)

    def drop(self, user: str, name: str | None = None) -> None:
        """Forget one function of ``user``, or all of them."""
        if name is not None:
            self._entries.pop((user, name), None)
            return
        for key in [key for key in self._entries if key[0] == user]:
            del self._entries[key]

    def fill(self, wanted: Iterable[tuple[str, str]], users: list[Doc]) -> set[str]:
        """Cache the ``wanted`` functions found in ``users`` (their documents as read);
        the names of those users."""
        wanted = set(wanted)
        for user in users:
            for name, doc in user.get("functions", {}).items():
                if (user["name"], name) in wanted:
                    self.put(with_sealed(function_from_doc(user["name"], name, doc), user))
        return {user["name"] for user in users}


class FinalJobs:
    """Jobs this store created and then moved to a final state, by id, as it wrote them, so
    that the reads waiting for a job's end (the old API's clients poll) are answered without
    a round trip.

    A final job never changes again; it goes when deleted (:meth:`drop`, :meth:`drop_user`),
    swept (:meth:`sweep`) or expired by the TTL index, so an entry is trusted until the
    earliest of ``ttl`` seconds and the job's expiry (``expire_at``, Unix seconds). Its
    submission fields are those of its creation (:meth:`created`), its outcome those of its
    finish (:meth:`finished`): a job this store did not create here is not kept."""

    def __init__(self, ttl: float = 30.0, size: int = 4096) -> None:
        self._ttl = ttl
        self._size = size
        #: id -> (job, trusted until (monotonic), expires at (Unix seconds)).
        self._entries: dict[str, tuple[JobRecord, float, float]] = {}
        #: Jobs created and not yet finished, as created (the oldest dropped first).
        self._created: dict[str, JobRecord] = {}

    def created(self, job: JobRecord) -> None:
        """Remember a job as this store just created it."""
        while len(self._created) >= self._size:
            del self._created[next(iter(self._created))]
        self._created[job.id] = job

    def finished(self, job: JobRecord, expire_at: float) -> None:
        """Keep ``job``'s outcome as its finish just stored it, if it was created here."""
        base = self._created.pop(job.id, None)
        if base is not None:
            outcome = {name: getattr(job, name) for name in OUTCOME_FIELDS}
            self.put(msgspec.structs.replace(base, **outcome), expire_at)

    def get(self, job_id: str) -> JobRecord | None:
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        if entry[1] < time.monotonic() or entry[2] <= time.time():
            del self._entries[job_id]
            return None
        return entry[0]

    def put(self, job: JobRecord, expire_at: float) -> None:
        while len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[job.id] = (job, time.monotonic() + self._ttl, expire_at)

    def drop(self, job_id: str) -> None:
        self._entries.pop(job_id, None)
        self._created.pop(job_id, None)

    def drop_user(self, user: str) -> None:
        for key in [key for key, entry in self._entries.items() if entry[0].user == user]:
            del self._entries[key]
        for key in [key for key, job in self._created.items() if job.user == user]:
            del self._created[key]

    def sweep(self, finished_before: float) -> None:
        """Forget the jobs a sweep of those finished before ``finished_before`` removes."""
        for key in [
            key
            for key, (job, _, _) in self._entries.items()
            if (job.finished_at or 0.0) < finished_before
        ]:
            del self._entries[key]
