"""The store's job writes for MongoDB (create, start, requeue, finish), planned without reads.

These are the writes every job makes, so they cost as few round trips as possible; the client
(:class:`~faas_trio.store.mongo.MongoStore`) does the I/O this module asks for:

1. A ``CreateJob`` needs its function, which :class:`FunctionCache` usually holds (a function
   version never changes, and this store makes every change of a user's functions itself);
   :meth:`JobBatch.functions_missing` names those it lacks, read in one query.
2. :meth:`JobBatch.waves` gives the writes to ``jobs`` as unordered bulk writes, usually one
   (a job touched twice in a batch, e.g. started then finished, takes a second): a creation
   is a plain insert, whose idempotency rides on the unique indexes (``_id``, and ``idem``:
   the user and the idempotency key): a duplicate-key answer means the job exists, and
   :meth:`JobBatch.duplicates` names the jobs to read to answer ``existing=True`` (or
   ``Conflict``). A transition is a conditional update (on the state, and on the user for a
   finish) answered ``Changed(applied=True)`` at once; when MongoDB matched fewer documents
   than the wave has transitions, :meth:`JobBatch.unsure` names the jobs to re-read and
   :meth:`JobBatch.correct` says which did not apply.
3. :meth:`JobBatch.increments` gives one update per user adding the time of its applied
   finishes; it goes out after the jobs' writes, not waiting on any read.

Exact accounting without a transaction: a finish that adds time also sets ``accounted:
false`` on its job, and the user's update adds the time only if the job's id is not among the
user's ``accounted_jobs`` (the last :data:`ACCOUNTED_KEEP` it counted), which it pushes in the
same update. So a crash between the two writes leaves a job final but not accounted, which
the store applies at its next start (:func:`account_updates`), and applying it twice cannot
count it twice. The ``accounted`` flag is removed from such jobs afterwards, with the next
batch's writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bson import ObjectId
from pymongo import InsertOne, UpdateMany, UpdateOne

from ..core.errors import BadRequest, Conflict, InternalError, NotFound
from ..core.ids import is_job_id
from ..core.messages import Changed, CreateJob, FinishJob, JobCreated, RequeueJob, StartJob
from ..core.records import Function, JobState
from .base import WriteResult, created_job, stored_size, text_size
from .mongo_documents import (
    UNFINISHED,
    Doc,
    as_date,
    function_from_doc,
    idem,
    job_doc,
    job_from_doc,
    with_sealed,
)

__all__ = [
    "ACCOUNTED_KEEP",
    "FunctionCache",
    "JobBatch",
    "JobOp",
    "account_updates",
    "unmark",
]

#: The writes planned here.
JobOp = CreateJob | StartJob | RequeueJob | FinishJob
#: How many of its last accounted job ids a user keeps: more than a batch can finish.
ACCOUNTED_KEEP = 1024
_DUPLICATE_KEY = 11000
# Fields FinishJob writes: the outcome, never the submission.
_FINISH_FIELDS = (
    "state", "status", "result", "value", "error", "attempts", "worker", "cold_start",
    "init_ms", "started_at", "finished_at", "duration_ms",
)  # fmt: skip


class FunctionCache:
    """The functions jobs were created for, by ``(user, name)``, as this store last wrote or
    read them. An entry is trusted for ``ttl`` seconds, which bounds how long a change made by
    another writer of the same database may go unseen; this store's own changes update it at
    once (:meth:`put`, :meth:`drop`)."""

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


@dataclass
class _Write:
    write: Any
    job_id: str
    index: int
    #: The fields a transition sets (None for an insert).
    changes: Doc | None = None


@dataclass
class JobBatch:
    """The job ops of a batch (with their positions in it), their results and writes."""

    ops: Sequence[tuple[int, JobOp]]
    now: float
    retention: float
    results: dict[int, WriteResult] = field(default_factory=dict)
    _writes: list[_Write] = field(default_factory=list)
    #: Positions of the creations that met a duplicate key.
    _duplicates: list[int] = field(default_factory=list)
    #: Writes of transitions MongoDB may not have applied.
    _unsure: list[_Write] = field(default_factory=list)
    #: Jobs a finish of this batch moves to a final state, which never changes again.
    _finishing: set[str] = field(default_factory=set)

    def functions_missing(self, cache: FunctionCache) -> set[tuple[str, str]]:
        """The functions the creations need that ``cache`` does not hold."""
        return {
            (op.submission.user, op.submission.function)
            for _, op in self.ops
            if isinstance(op, CreateJob)
            and cache.get(op.submission.user, op.submission.function) is None
        }

    def plan(self, cache: FunctionCache, users_read: set[str]) -> None:
        """Check each op and record its write; give the results of those that fail checks.
        ``users_read``: the users found by the read of :meth:`functions_missing`."""
        for index, op in self.ops:
            if isinstance(op, CreateJob):
                self._plan_create(index, op, cache, users_read)
            else:
                self._plan_transition(index, op)

    def waves(self, marks: list[ObjectId]) -> list[list[_Write]]:
        """The writes as unordered bulk writes, in order, none touching a job twice; the
        first also removes the ``accounted`` flag of ``marks`` (jobs already accounted)."""
        waves: list[list[_Write]] = []
        last: dict[str, int] = {}
        for write in self._writes:
            wave = last.get(write.job_id, -1) + 1
            if wave == len(waves):
                waves.append([])
            waves[wave].append(write)
            last[write.job_id] = wave
        if marks:
            unmarking = _Write(unmark(marks), "", -1)
            if waves:
                waves[0].append(unmarking)
            else:
                waves.append([unmarking])
        return waves

    def record(self, wave: list[_Write], outcome: Doc, marks: int) -> None:
        """Take in the ``outcome`` of one wave (its ``bulk_api_result``, or the details of
        its ``BulkWriteError``); ``marks`` is how many jobs its unmarking could match."""
        failed = {error["index"]: error for error in outcome.get("writeErrors", [])}
        transitions = [w for w in wave if w.changes is not None]
        for position, write in enumerate(wave):
            error = failed.get(position)
            if error is None or write.index < 0:
                continue
            if write.changes is None and error.get("code") == _DUPLICATE_KEY:
                self._duplicates.append(write.index)
            else:
                self.results[write.index] = InternalError(
                    f"job '{write.job_id}' not written: {error.get('errmsg')}"
                )
        if outcome.get("nMatched", 0) < len(transitions) + marks:
            written = [w for position, w in enumerate(wave) if position not in failed]
            self._unsure.extend(w for w in written if w.changes is not None)

    def duplicates(self) -> Doc | None:
        """The query reading the jobs the duplicate creations met, or None."""
        clauses: list[Doc] = []
        for index in self._duplicates:
            job = self._create(index).submission
            clauses.append({"_id": ObjectId(job.id)})
            if job.idempotency_key is not None:
                clauses.append({"idem": idem(job.user, job.idempotency_key)})
        return {"$or": clauses} if clauses else None

    def stored_functions(self, stored: list[Doc]) -> set[tuple[str, str]]:
        """The functions of the ``stored`` jobs (read with :meth:`duplicates`)."""
        return {(doc["u_name"], doc["f_name"]) for doc in stored}

    def resolve_duplicates(self, stored: list[Doc], cache: FunctionCache) -> None:
        """Answer each duplicate creation with the job it met (``existing=True``), or
        ``Conflict`` when that job id belongs to another user."""
        by_id = {str(doc["_id"]): doc for doc in stored}
        for index in self._duplicates:
            job = self._create(index).submission
            doc = by_id.get(job.id) or next(
                (
                    d
                    for d in stored
                    if d["u_name"] == job.user and d.get("idempotency_key") == job.idempotency_key
                ),
                None,
            )
            if doc is None:  # deleted since: the caller may try again
                self.results[index] = InternalError(f"job '{job.id}' vanished while created")
            elif doc["u_name"] != job.user:
                self.results[index] = Conflict(f"job id '{job.id}' is taken")
            else:
                fn = cache.get(doc["u_name"], doc["f_name"])
                self.results[index] = (
                    JobCreated(job=job_from_doc(doc), function=fn, existing=True)
                    if fn is not None
                    else NotFound(f"function '{doc['f_name']}' not found for user '{job.user}'")
                )

    def unsure(self) -> list[ObjectId]:
        """The jobs to re-read because a wave matched fewer than it had transitions."""
        return [ObjectId(write.job_id) for write in self._unsure]

    def correct(self, stored: list[Doc]) -> None:
        """A transition whose mark the re-read job (``stored``) does not hold did not apply
        (a later write of the same job in this batch may have replaced it: then it is
        reported as not applied too, which only a start followed by a finish can meet)."""
        by_id = {str(doc["_id"]): doc for doc in stored}
        for write in self._unsure:
            changes = write.changes or {}
            if by_id.get(write.job_id, {}).get("last_write") != changes["last_write"]:
                self.results[write.index] = Changed(applied=False)

    def increments(self) -> tuple[list[UpdateOne], list[ObjectId]]:
        """One update per user adding the time of its applied finishes, and those jobs."""
        per_user: dict[str, tuple[float, list[ObjectId]]] = {}
        for index, op in self.ops:
            if isinstance(op, FinishJob) and op.job.duration_ms and self._applied(index):
                spent, oids = per_user.get(op.job.user, (0.0, []))
                oids.append(ObjectId(op.job.id))
                per_user[op.job.user] = (spent + op.job.duration_ms, oids)
        updates = [_increment(user, spent, oids) for user, (spent, oids) in per_user.items()]
        return updates, [oid for _, oids in per_user.values() for oid in oids]

    # ---- planning ----------------------------------------------------------------------

    def _create(self, index: int) -> CreateJob:
        op = next(op for i, op in self.ops if i == index)
        assert isinstance(op, CreateJob)
        return op

    def _applied(self, index: int) -> bool:
        return self.results.get(index) == Changed(applied=True)

    def _plan_create(
        self, index: int, op: CreateJob, cache: FunctionCache, users_read: set[str]
    ) -> None:
        if not is_job_id(op.submission.id):
            self.results[index] = BadRequest(f"malformed job id {op.submission.id!r}")
            return
        job = op.submission
        fn = cache.get(job.user, job.function)
        if fn is None:
            self.results[index] = (
                NotFound(f"function '{job.function}' not found for user '{job.user}'")
                if job.user in users_read
                else NotFound(f"user '{job.user}' not found")
            )
            return
        record = created_job(job, fn, self.now)
        self._writes.append(_Write(InsertOne(job_doc(record)), record.id, index))
        self.results[index] = JobCreated(job=record, function=fn)

    def _plan_transition(self, index: int, op: StartJob | RequeueJob | FinishJob) -> None:
        job_id = op.job.id if isinstance(op, FinishJob) else op.id
        if not is_job_id(job_id) or job_id in self._finishing:
            # No such job can exist, or an earlier finish of the batch made it final.
            self.results[index] = Changed(applied=False)
            return
        query: Doc = {"_id": ObjectId(job_id)}
        if isinstance(op, StartJob):
            query["state"] = JobState.QUEUED.value
            changes: Doc = {
                "state": JobState.RUNNING.value,
                "attempts": op.attempt,
                "worker": op.worker,
                "started_at": op.started_at,
            }
        elif isinstance(op, RequeueJob):
            query["state"] = JobState.RUNNING.value
            changes = {"state": JobState.QUEUED.value, "worker": None, "started_at": None}
            if op.error is not None:
                changes["error"] = op.error
            if op.attempts is not None:
                changes["attempts"] = op.attempts
        else:
            if not op.job.is_final:
                self.results[index] = BadRequest(
                    f"FinishJob needs a final state, not '{op.job.state.value}'"
                )
                return
            query.update(state={"$in": UNFINISHED}, u_name=op.job.user)
            self._finishing.add(job_id)
            finished_at = op.job.finished_at or self.now
            final = job_doc(msgspec.structs.replace(op.job, finished_at=finished_at))
            changes = {name: final[name] for name in _FINISH_FIELDS}
            # The TTL counts from when the store saw the finish, whatever the worker's clock.
            changes.update(logs=op.logs, expire_at=as_date(self.now + self.retention))
            if op.job.duration_ms:
                changes["accounted"] = False
        # Marks the write, so that a re-read tells whether it applied, even on a retry of the
        # batch that finds its own first attempt.
        changes["last_write"] = ObjectId()
        update: Doc = {"$set": changes}
        if isinstance(op, FinishJob):  # its arguments were counted when the job was created
            update["$inc"] = {"bytes": stored_size(op.job, op.logs) - text_size(op.job.args)}
        self._writes.append(_Write(UpdateOne(query, update), job_id, index, changes))
        self.results[index] = Changed(applied=True)


def _increment(user: str, spent: float, oids: list[ObjectId]) -> UpdateOne:
    """Add ``spent`` ms to ``user`` unless one of the jobs ``oids`` was counted already."""
    return UpdateOne(
        {"name": user, "accounted_jobs": {"$nin": oids}},
        {
            "$inc": {"execution_time_ms": spent},
            "$push": {"accounted_jobs": {"$each": oids, "$slice": -ACCOUNTED_KEEP}},
        },
    )


def unmark(oids: list[ObjectId]) -> UpdateMany:
    """The write removing the ``accounted`` flag of jobs whose time was counted."""
    return UpdateMany({"_id": {"$in": oids}, "accounted": False}, {"$unset": {"accounted": ""}})


def account_updates(unaccounted: list[Doc]) -> list[UpdateOne]:
    """For final jobs still flagged ``accounted: false`` (their ``_id``, ``u_name``,
    ``duration_ms``), the updates adding each one's time to its user unless counted already."""
    return [
        _increment(doc["u_name"], float(doc.get("duration_ms") or 0.0), [doc["_id"]])
        for doc in unaccounted
    ]
