"""The store's writes for MongoDB: a batch of ops planned in memory, then bulk writes.

No I/O here: the client (:class:`~faas_trio.store.mongo.MongoStore`) does the reads and the
writes this module asks for, in this order:

1. :func:`batch_reads` names what the batch's checks need (users, jobs by id or by idempotency
   key, function versions); the client reads it and :meth:`Plan.from_reads` holds it.
2. :func:`plan_batch` checks each op against the planned state, records the writes that make
   its result true, and gives the result: an op sees the earlier ops of its batch, and one that
   fails its checks gets its ``FaasError`` and records no write.
3. The writes go out as one ``bulk_write`` per collection: jobs (:meth:`Plan.job_bulk`), then
   function versions (:meth:`Plan.version_writes`), then users (:meth:`Plan.user_bulk`), each
   unordered unless two of its writes touch the same document.

A transition (start, requeue, finish) keeps a filter on the job's state, so a final state never
changes even if another writer raced this one; when the jobs' bulk write did not do all the plan
expected (:meth:`Plan.jobs_to_recheck`), the client re-reads those jobs and
:meth:`Plan.correct_jobs` turns the results MongoDB disagrees with into ``Changed(applied=False)``
or ``InternalError``. A finish adds its duration to its user's time only if its result is still
``Changed(applied=True)`` after that correction. A version is raised with ``$max`` and never
lowered. A function whose name cannot be a key of the ``functions`` document
(:func:`~.mongo_documents.key_ok`) is refused with ``BadRequest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bson import ObjectId
from pymongo import DeleteOne, InsertOne, UpdateOne

from ..core.errors import BadRequest, Conflict, FaasError, InternalError, NotFound
from ..core.ids import is_job_id
from ..core.messages import (
    Changed,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    Done,
    FinishJob,
    FunctionReply,
    JobCreated,
    PutFunction,
    PutSecret,
    PutUser,
    RequeueJob,
    SetBuild,
    StartJob,
)
from ..core.records import Function, JobState, Submission
from .base import WriteOp, WriteResult, created_job, stored_function
from .mongo_documents import (
    UNFINISHED,
    Doc,
    as_date,
    function_doc,
    function_from_doc,
    job_doc,
    job_from_doc,
    key_ok,
)

__all__ = ["BatchReads", "Plan", "batch_reads", "plan_batch"]

# Fields FinishJob writes: the outcome, never the submission.
_FINISH_FIELDS = (
    "state",
    "status",
    "result",
    "value",
    "error",
    "attempts",
    "worker",
    "cold_start",
    "init_ms",
    "started_at",
    "finished_at",
    "duration_ms",
)


@dataclass
class BatchReads:
    """What a batch's checks need: the keys, and the query that reads them from each
    collection (None when there is nothing to read there)."""

    names: set[str]
    ids: set[str]
    functions: set[tuple[str, str]]
    users: Doc | None
    jobs: Doc | None
    versions: Doc | None


def batch_reads(ops: Sequence[WriteOp]) -> BatchReads:
    """The users, jobs and function versions the checks of ``ops`` need."""
    names: set[str] = set()
    ids: set[str] = set()
    functions: set[tuple[str, str]] = set()
    keyed: list[Doc] = []
    for op in ops:
        if isinstance(op, PutUser | DeleteUser):
            names.add(op.name)
        elif isinstance(op, DeleteFunction):
            names.add(op.user)
        elif isinstance(op, SetBuild | PutSecret | DeleteSecret):
            names.add(op.user)
        elif isinstance(op, PutFunction):
            names.add(op.function.user)
            functions.add((op.function.user, op.function.name))
        elif isinstance(op, CreateJob):
            names.add(op.submission.user)
            ids.add(op.submission.id)
            if op.submission.idempotency_key is not None:
                keyed.append(
                    {"u_name": op.submission.user, "idempotency_key": op.submission.idempotency_key}
                )
        elif isinstance(op, FinishJob):
            names.add(op.job.user)
            ids.add(op.job.id)
        else:
            ids.add(op.id)
    oids = [ObjectId(i) for i in ids if is_job_id(i)]
    vids = [{"user": u, "name": n} for u, n in sorted(functions)]
    return BatchReads(
        names=names,
        ids=ids,
        functions=functions,
        users={"name": {"$in": sorted(names)}} if names else None,
        jobs={"$or": [{"_id": {"$in": oids}}, *keyed]} if oids or keyed else None,
        versions={"_id": {"$in": vids}} if vids else None,
    )


@dataclass
class Plan:
    """A batch's state as read, its results, and the writes that make them true."""

    users: dict[str, Doc | None]
    jobs: dict[str, Doc | None]
    versions: dict[tuple[str, str], int]
    results: list[WriteResult] = field(default_factory=list)
    #: (write, key of the document it touches, index of the FinishJob op it adds time for).
    user_writes: list[tuple[Any, str, int | None]] = field(default_factory=list)
    #: (write, job id, index of its op, the fields a transition sets or None).
    job_writes: list[tuple[Any, str, int, Doc | None]] = field(default_factory=list)

    @classmethod
    def from_reads(
        cls, reads: BatchReads, users: list[Doc], jobs: list[Doc], versions: list[Doc]
    ) -> Plan:
        """The state before the batch: the documents read with ``reads``' queries; a key
        they lack is a user or job that does not exist, or a function never registered."""
        plan = cls(
            users={name: None for name in reads.names},
            jobs={i: None for i in reads.ids},
            versions={(u, n): 0 for u, n in reads.functions},
        )
        plan.users.update((doc["name"], doc) for doc in users)
        plan.jobs.update((str(doc["_id"]), doc) for doc in jobs)
        plan.versions.update(((d["_id"]["user"], d["_id"]["name"]), d["version"]) for d in versions)
        for user in users:  # a function stored before its version was recorded
            for name, fn in user.get("functions", {}).items():
                if (user["name"], name) in plan.versions:
                    plan.versions[user["name"], name] = max(
                        plan.versions[user["name"], name], fn.get("version", 0)
                    )
        return plan

    def job_bulk(self) -> tuple[list[Any], bool]:
        """The writes to ``jobs`` and whether they must be ordered (two touch one job)."""
        return [w for w, _, _, _ in self.job_writes], _needs_order(
            [key for _, key, _, _ in self.job_writes]
        )

    def jobs_to_recheck(self, outcome: Doc) -> list[ObjectId] | None:
        """None when the jobs' bulk write (``outcome``: its ``bulk_api_result`` or the
        details of its ``BulkWriteError``) did all the plan expected; else the ids of the
        jobs the batch moved, to re-read for :meth:`correct_jobs`."""
        if not _failures(outcome) and outcome.get("nMatched", 0) == len(self._transitions()):
            return None
        return [ObjectId(key) for key, _, _ in self._transitions()]

    def correct_jobs(self, outcome: Doc, stored: list[Doc]) -> None:
        """Correct the results where the database disagrees with the plan: a transition
        whose fields ``stored`` (the re-read of :meth:`jobs_to_recheck`) lacks did not apply
        (another writer raced it), and a job write that failed, or came after a failure in an
        ordered bulk write, gives ``InternalError``."""
        failed = _failures(outcome)
        by_id = {str(d["_id"]): d for d in stored}
        for key, index, changes in self._transitions():
            doc = by_id.get(key, {})
            if any(doc.get(k) != v for k, v in changes.items() if k != "expire_at"):
                self.results[index] = Changed(applied=False)
        writes, ordered = self.job_bulk()
        first_failure = min(failed, default=len(writes))
        for position, (_, key, index, sets) in enumerate(self.job_writes):
            if position in failed or (ordered and position > first_failure and sets is None):
                reason = failed[position]["errmsg"] if position in failed else "an earlier write"
                self.results[index] = InternalError(f"job '{key}' not written: {reason}")

    def version_writes(self) -> list[UpdateOne]:
        """The upserts of ``function_versions`` (in any order: one per function)."""
        return [
            UpdateOne({"_id": {"user": u, "name": n}}, {"$max": {"version": v}}, upsert=True)
            for (u, n), v in self.versions.items()
            if v
        ]

    def user_bulk(self) -> tuple[list[Any], bool]:
        """The writes to ``users`` and whether they must be ordered; a finish's time only if
        it applied. Call it after :meth:`correct_jobs`, whose results it reads."""
        users = [
            (w, key)
            for w, key, finish in self.user_writes
            if finish is None or self.results[finish] == Changed(applied=True)
        ]
        return [w for w, _ in users], _needs_order([key for _, key in users])

    def _transitions(self) -> list[tuple[str, int, Doc]]:
        """(job id, op index, fields set) of each planned transition."""
        return [
            (key, index, changes)
            for _, key, index, changes in self.job_writes
            if changes is not None
        ]


def plan_batch(plan: Plan, ops: Sequence[WriteOp], now: float, retention: float) -> None:
    """Check ``ops`` in order against ``plan``, appending one result per op to
    ``plan.results`` and recording their writes. ``now`` stamps what they create; a finished
    job expires ``retention`` seconds after ``now``."""
    for index, op in enumerate(ops):
        try:
            plan.results.append(_plan_op(plan, index, op, now, retention))
        except FaasError as exc:
            plan.results.append(exc)


def _needs_order(keys: list[str]) -> bool:
    """Whether a bulk write touching ``keys`` must be ordered: two writes hit one document."""
    return len(set(keys)) < len(keys)


def _failures(outcome: Doc) -> dict[int, Doc]:
    """A bulk write's errors, by the position of the write that failed."""
    return {error["index"]: error for error in outcome.get("writeErrors", [])}


def _plan_op(plan: Plan, index: int, op: WriteOp, now: float, retention: float) -> WriteResult:
    """Check ``op`` against the planned state, record its writes, and return its result."""
    if isinstance(op, PutUser):
        if op.create_only and plan.users.get(op.name) is not None:
            raise Conflict(f"user '{op.name}' exists already")
        # A reset: the user's functions go, its time starts again from zero.
        reset: Doc = {
            "functions": {},
            "secrets": {},
            "execution_time_ms": 0.0,
            "key_hash": op.key_hash,
            "created_at": now,
        }
        plan.users[op.name] = {"name": op.name, **reset}
        update = {"$set": reset}
        plan.user_writes.append((UpdateOne({"name": op.name}, update, upsert=True), op.name, None))
        return Done()
    if isinstance(op, DeleteUser):
        _user(plan, op.name)
        plan.users[op.name] = None
        plan.user_writes.append((DeleteOne({"name": op.name}), op.name, None))
        return Done()
    if isinstance(op, PutFunction):
        fn = op.function
        if not key_ok(fn.name):
            raise BadRequest(f"function name {fn.name!r} is not allowed")
        functions = _user(plan, fn.user)["functions"]
        version = plan.versions[fn.user, fn.name] = plan.versions[fn.user, fn.name] + 1
        fn = stored_function(fn, version, now)
        functions[fn.name] = function_doc(fn)
        plan.user_writes.append(
            (
                UpdateOne(
                    {"name": fn.user}, {"$set": {f"functions.{fn.name}": functions[fn.name]}}
                ),
                fn.user,
                None,
            )
        )
        return FunctionReply(function=fn)
    if isinstance(op, DeleteFunction):
        functions = _user(plan, op.user)["functions"]
        if op.name not in functions:
            raise NotFound(f"function '{op.name}' not found for user '{op.user}'")
        del functions[op.name]
        plan.user_writes.append(
            (
                UpdateOne({"name": op.user}, {"$unset": {f"functions.{op.name}": ""}}),
                op.user,
                None,
            )
        )
        return Done()
    if isinstance(op, SetBuild):
        return _plan_set_build(plan, op)
    if isinstance(op, PutSecret | DeleteSecret):
        return _plan_secret(plan, op)
    if isinstance(op, CreateJob):
        return _plan_create(plan, index, op.submission, now)
    if isinstance(op, DeleteJob):
        if plan.jobs.get(op.id) is None:
            raise NotFound(f"job '{op.id}' not found")
        plan.jobs[op.id] = None
        plan.job_writes.append((DeleteOne({"_id": ObjectId(op.id)}), op.id, index, None))
        return Done()
    return _plan_transition(plan, index, op, now, retention)


def _plan_set_build(plan: Plan, op: SetBuild) -> Changed:
    user = plan.users.get(op.user)
    doc = (user or {}).get("functions", {}).get(op.name)
    if doc is None or doc.get("version") != op.version:
        return Changed(applied=False)
    build = doc.get("build")
    if build is None or build.get("state") in ("ready", "failed"):
        return Changed(applied=False)
    doc["build"] = msgspec.to_builtins(op.build)
    where = {"name": op.user, f"functions.{op.name}.version": op.version}
    update = {"$set": {f"functions.{op.name}.build": doc["build"]}}
    plan.user_writes.append((UpdateOne(where, update), op.user, None))
    return Changed(applied=True)


def _plan_secret(plan: Plan, op: PutSecret | DeleteSecret) -> Done:
    secrets = _user(plan, op.user).setdefault("secrets", {})
    key = f"secrets.{op.name}"
    if isinstance(op, PutSecret):
        secrets[op.name] = op.sealed
        update: Doc = {"$set": {key: op.sealed}}
    else:
        if op.name not in secrets:
            raise NotFound(f"secret '{op.name}' not found for user '{op.user}'")
        del secrets[op.name]
        update = {"$unset": {key: ""}}
    plan.user_writes.append((UpdateOne({"name": op.user}, update), op.user, None))
    return Done()


def with_sealed(fn: Function, user: Doc) -> Function:
    """``fn`` with the sealed values of the secrets it names, from its ``user`` document."""
    if not fn.secrets:
        return fn
    stored = user.get("secrets") or {}
    return msgspec.structs.replace(
        fn, sealed={name: stored[name] for name in fn.secrets if name in stored}
    )


def _user(plan: Plan, name: str) -> Doc:
    doc = plan.users.get(name)
    if doc is None:
        raise NotFound(f"user '{name}' not found")
    doc.setdefault("functions", {})
    return doc


def _plan_create(plan: Plan, index: int, job: Submission, now: float) -> JobCreated:
    if not is_job_id(job.id):
        raise BadRequest(f"malformed job id {job.id!r}")
    stored = plan.jobs.get(job.id)
    if stored is None and job.idempotency_key is not None:
        stored = next(
            (
                d
                for d in plan.jobs.values()
                if d is not None
                and d["u_name"] == job.user
                and d.get("idempotency_key") == job.idempotency_key
            ),
            None,
        )
    if stored is not None and stored["u_name"] != job.user:
        raise Conflict(f"job id '{job.id}' is taken")
    user, name = (stored["u_name"], stored["f_name"]) if stored else (job.user, job.function)
    functions = _user(plan, user)["functions"]
    if name not in functions:
        raise NotFound(f"function '{name}' not found for user '{user}'")
    fn = with_sealed(function_from_doc(user, name, functions[name]), _user(plan, user))
    if stored is not None:
        return JobCreated(job=job_from_doc(stored), function=fn, existing=True)
    record = created_job(job, fn, now)
    doc = job_doc(record)
    plan.jobs[record.id] = doc
    plan.job_writes.append((InsertOne(doc), record.id, index, None))
    return JobCreated(job=record, function=fn)


def _plan_transition(
    plan: Plan,
    index: int,
    op: StartJob | RequeueJob | FinishJob,
    now: float,
    retention: float,
) -> Changed:
    job_id = op.job.id if isinstance(op, FinishJob) else op.id
    if not is_job_id(job_id):
        return Changed(applied=False)  # no such job can exist, as on SQLite
    doc = plan.jobs.get(job_id)
    if isinstance(op, StartJob):
        allowed = [JobState.QUEUED.value]
        changes: Doc = {
            "state": JobState.RUNNING.value,
            "attempts": op.attempt,
            "worker": op.worker,
            "started_at": op.started_at,
        }
    elif isinstance(op, RequeueJob):
        allowed = [JobState.RUNNING.value]
        changes = {"state": JobState.QUEUED.value, "worker": None, "started_at": None}
        if op.error is not None:
            changes["error"] = op.error
        if op.attempts is not None:
            changes["attempts"] = op.attempts
    else:
        if not op.job.is_final:
            raise BadRequest(f"FinishJob needs a final state, not '{op.job.state.value}'")
        allowed = UNFINISHED
        final = job_doc(msgspec.structs.replace(op.job, finished_at=op.job.finished_at or now))
        changes = {name: final[name] for name in _FINISH_FIELDS}
        # The TTL counts from when the store saw the finish, whatever the worker's clock said.
        changes.update(logs=op.logs, expire_at=as_date(now + retention))
    if doc is None or doc["state"] not in allowed:
        return Changed(applied=False)
    doc.update(changes)
    write = UpdateOne({"_id": ObjectId(job_id), "state": {"$in": allowed}}, {"$set": changes})
    plan.job_writes.append((write, job_id, index, changes))
    if isinstance(op, FinishJob) and op.job.duration_ms:
        inc = UpdateOne(
            {"name": doc["u_name"]}, {"$inc": {"execution_time_ms": op.job.duration_ms}}
        )
        plan.user_writes.append((inc, doc["u_name"], index))
    return Changed(applied=True)
