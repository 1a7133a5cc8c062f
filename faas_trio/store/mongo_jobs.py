"""The store's job writes for MongoDB (create, start, requeue, finish), planned without reads.

These are the writes every job makes, so they cost as few round trips as possible; the client
(:class:`~faas_trio.store.mongo.MongoStore`) does the I/O this module asks for:

1. A ``CreateJob`` needs its function, which :class:`~.mongo_cache.FunctionCache` usually
   holds (a function version never changes, and this store makes every change of a user's
   functions itself);
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

Exact accounting without a transaction is :mod:`.mongo_accounting`'s: a batch has a token, and
:meth:`JobBatch.pending` names the finishes that add time, with the mark of each one's write,
for the record written before the jobs' writes. Jobs flagged ``accounted`` by earlier versions
are counted when the store opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bson import ObjectId
from pymongo import InsertOne, UpdateOne

from ..core.errors import BadRequest, Conflict, InternalError, NotFound
from ..core.ids import is_job_id
from ..core.messages import Changed, CreateJob, FinishJob, JobCreated, RequeueJob, StartJob
from ..core.records import JobRecord, JobState
from .base import WriteResult, created_job, stored_size, text_size
from .mongo_accounting import increment, new_token
from .mongo_cache import OUTCOME_FIELDS, FunctionCache
from .mongo_documents import (
    UNFINISHED,
    Doc,
    as_date,
    idem,
    job_doc,
    job_from_doc,
)

__all__ = ["JobBatch", "JobOp"]

#: The writes planned here.
JobOp = CreateJob | StartJob | RequeueJob | FinishJob
_DUPLICATE_KEY = 11000
# Fields FinishJob writes: the outcome, never the submission.
_FINISH_FIELDS = ("status", *OUTCOME_FIELDS)


@dataclass
class _Write:
    write: Any
    job_id: str
    index: int
    #: The fields a transition sets (None for an insert), the job it updates where, and the
    #: whole update (``$set`` of ``changes``, and more); :meth:`JobBatch.waves` makes ``write``.
    changes: Doc | None = None
    query: Doc | None = None
    update: Doc | None = None
    #: A finish that adds time (its job's user is then owed it).
    counts: bool = False


@dataclass
class JobBatch:
    """The job ops of a batch (with their positions in it), their results and writes."""

    ops: Sequence[tuple[int, JobOp]]
    now: float
    retention: float
    #: This batch's accounting token.
    token: int = field(default_factory=new_token)
    results: dict[int, WriteResult] = field(default_factory=dict)
    _writes: list[_Write] = field(default_factory=list)
    #: Positions of the creations that met a duplicate key.
    _duplicates: list[int] = field(default_factory=list)
    #: Writes of transitions MongoDB may not have applied.
    _unsure: list[_Write] = field(default_factory=list)
    #: The mark of each wave's transitions (see :meth:`waves`).
    _marks: list[ObjectId] = field(default_factory=list)
    #: Jobs a finish of this batch moves to a final state, which never changes again.
    _finishing: set[str] = field(default_factory=set)
    #: The final records the finishes write, by position.
    _finals: dict[int, JobRecord] = field(default_factory=dict)

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

    def waves(self) -> list[list[_Write]]:
        """The writes as unordered bulk writes, in order, none touching a job twice."""
        waves: list[list[_Write]] = []
        last: dict[str, int] = {}
        for write in self._writes:
            wave = last.get(write.job_id, -1) + 1
            if wave == len(waves):
                waves.append([])
                self._marks.append(ObjectId())
            if write.changes is not None and write.query and write.update:
                # Marks the write, so that a re-read tells whether it applied, even on a retry
                # of the batch that finds its own first attempt.
                write.changes["last_write"] = self._marks[wave]
                write.write = UpdateOne(write.query, write.update)
            waves[wave].append(write)
            last[write.job_id] = wave
        return waves

    def pending(self) -> list[tuple[ObjectId, ObjectId]]:
        """(job id, mark of its write) of each finish that adds time, once :meth:`waves`
        marked them: what the batch's pending record holds (see :mod:`.mongo_accounting`)."""
        return [
            (ObjectId(write.job_id), write.changes["last_write"])
            for write in self._writes
            if write.counts and write.changes is not None
        ]

    def record(self, wave: list[_Write], outcome: Doc) -> None:
        """Take in the ``outcome`` of one wave (its ``bulk_api_result``, or the details of
        its ``BulkWriteError``)."""
        failed = {error["index"]: error for error in outcome.get("writeErrors", [])}
        transitions = [w for w in wave if w.changes is not None]
        for position, write in enumerate(wave):
            error = failed.get(position)
            if error is None:
                continue
            if write.changes is None and error.get("code") == _DUPLICATE_KEY:
                self._duplicates.append(write.index)
            else:
                self.results[write.index] = InternalError(
                    f"job '{write.job_id}' not written: {error.get('errmsg')}"
                )
        if outcome.get("nMatched", 0) < len(transitions):
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

    def unsure(self) -> Doc | None:
        """The query re-reading the jobs whose transitions may not have applied (a wave
        matched fewer than it had), or None: it finds those that hold their wave's mark."""
        if not self._unsure:
            return None
        # The mark first: the test server tests a document's fields in the query's order,
        # and a whole collection is scanned for an ``$in`` there.
        return {
            "last_write": {"$in": self._marks},
            "_id": {"$in": [ObjectId(write.job_id) for write in self._unsure]},
        }

    def correct(self, stored: list[Doc]) -> None:
        """A transition whose mark the re-read job (``stored``) does not hold did not apply
        (a later write of the same job in this batch may have replaced it: then it is
        reported as not applied too, which only a start followed by a finish can meet)."""
        by_id = {str(doc["_id"]): doc for doc in stored}
        for write in self._unsure:
            changes = write.changes or {}
            if by_id.get(write.job_id, {}).get("last_write") != changes["last_write"]:
                self.results[write.index] = Changed(applied=False)

    def finished(self) -> list[JobRecord]:
        """The final records of the finishes that applied (their outcome fields are as
        stored; the others as the finish gave them); they expire at ``now + retention``."""
        return [job for index, job in self._finals.items() if self._applied(index)]

    def increments(self) -> list[UpdateOne]:
        """One update per user adding the time of its applied finishes."""
        per_user: dict[str, float] = {}
        for index, op in self.ops:
            if isinstance(op, FinishJob) and op.job.duration_ms and self._applied(index):
                per_user[op.job.user] = per_user.get(op.job.user, 0.0) + op.job.duration_ms
        return [increment(user, spent, self.token) for user, spent in per_user.items()]

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
            self._finals[index] = msgspec.structs.replace(op.job, finished_at=finished_at)
            final = job_doc(self._finals[index])
            changes = {name: final[name] for name in _FINISH_FIELDS}
            # The TTL counts from when the store saw the finish, whatever the worker's clock.
            changes.update(logs=op.logs, expire_at=as_date(self.now + self.retention))
        update: Doc = {"$set": changes}
        if isinstance(op, FinishJob):  # its arguments were counted when the job was created
            update["$inc"] = {"bytes": stored_size(op.job, op.logs) - text_size(op.job.args)}
        counts = isinstance(op, FinishJob) and bool(op.job.duration_ms)
        self._writes.append(_Write(None, job_id, index, changes, query, update, counts))
        self.results[index] = Changed(applied=True)
