"""The store's rarer writes for MongoDB: users, functions and job deletions, planned in memory
from reads, then bulk writes.

The writes every job makes (create, start, requeue, finish) are planned without reads in
:mod:`.mongo_jobs`; this module plans the others. No I/O here: the client
(:class:`~faas_trio.store.mongo.MongoStore`) does the reads and the writes it asks for, in
this order:

1. :func:`batch_reads` names what the ops' checks need (users, jobs by id, function versions);
   the client reads it and :meth:`Plan.from_reads` holds it.
2. :func:`plan_batch` checks each op against the planned state, records the writes that make
   its result true, and gives the result: an op sees the earlier ops of its batch, and one that
   fails its checks gets its ``FaasError`` and records no write.
3. The writes go out as one ``bulk_write`` per collection: job deletions
   (:meth:`Plan.job_bulk`), then function versions (:meth:`Plan.version_writes`), then users
   (:meth:`Plan.user_bulk`), each unordered unless two of its writes touch the same document;
   :meth:`Plan.fail_jobs` gives ``InternalError`` to the deletions MongoDB refused.

A version is raised with ``$max`` and never lowered. A function whose name cannot be a key of
the ``functions`` document (:func:`~.mongo_documents.key_ok`) is refused with ``BadRequest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bson import ObjectId
from pymongo import DeleteMany, DeleteOne, UpdateOne

from ..core.errors import BadRequest, Conflict, FaasError, InternalError, NotFound
from ..core.ids import is_job_id
from ..core.messages import (
    Changed,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    Done,
    FunctionReply,
    PutFunction,
    PutSecret,
    PutUser,
    SetBuild,
)
from .base import WriteResult, stored_function
from .mongo_documents import Doc, function_doc, key_ok, user_reset

__all__ = ["AdminOp", "BatchReads", "Plan", "batch_reads", "plan_batch"]

#: The writes planned here.
AdminOp = (
    PutUser
    | DeleteUser
    | PutFunction
    | DeleteFunction
    | DeleteJob
    | SetBuild
    | PutSecret
    | DeleteSecret
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


def batch_reads(ops: Sequence[AdminOp]) -> BatchReads:
    """The users, jobs and function versions the checks of ``ops`` need."""
    names: set[str] = set()
    ids: set[str] = set()
    functions: set[tuple[str, str]] = set()
    for op in ops:
        if isinstance(op, PutUser | DeleteUser):
            names.add(op.name)
        elif isinstance(op, DeleteFunction | SetBuild | PutSecret | DeleteSecret):
            names.add(op.user)
        elif isinstance(op, PutFunction):
            names.add(op.function.user)
            functions.add((op.function.user, op.function.name))
        else:
            ids.add(op.id)
    oids = [ObjectId(i) for i in ids if is_job_id(i)]
    vids = [{"user": u, "name": n} for u, n in sorted(functions)]
    return BatchReads(
        names=names,
        ids=ids,
        functions=functions,
        users={"name": {"$in": sorted(names)}} if names else None,
        jobs={"_id": {"$in": oids}} if oids else None,
        versions={"_id": {"$in": vids}} if vids else None,
    )


@dataclass
class Plan:
    """A batch's state as read, its results, and the writes that make them true."""

    users: dict[str, Doc | None]
    jobs: dict[str, Doc | None]
    versions: dict[tuple[str, str], int]
    results: list[WriteResult] = field(default_factory=list)
    #: (write, key of the user document it touches).
    user_writes: list[tuple[Any, str]] = field(default_factory=list)
    #: (write, job id, index of its op).
    job_writes: list[tuple[Any, str, int]] = field(default_factory=list)

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

    def job_bulk(self) -> list[Any]:
        """The deletions of ``jobs`` (each job at most once: a second one fails its check; a
        deleted user's jobs all at once)."""
        return [w for w, _, _ in self.job_writes]

    def fail_jobs(self, outcome: Doc) -> None:
        """Give ``InternalError`` to the deletions the jobs' bulk write (``outcome``: the
        details of its ``BulkWriteError``) refused."""
        for error in outcome.get("writeErrors", []):
            _, key, index = self.job_writes[error["index"]]
            self.results[index] = InternalError(f"job '{key}' not deleted: {error['errmsg']}")

    def version_writes(self) -> list[UpdateOne]:
        """The upserts of ``function_versions`` (in any order: one per function)."""
        return [
            UpdateOne({"_id": {"user": u, "name": n}}, {"$max": {"version": v}}, upsert=True)
            for (u, n), v in self.versions.items()
            if v
        ]

    def user_bulk(self) -> tuple[list[Any], bool]:
        """The writes to ``users`` and whether they must be ordered."""
        keys = [key for _, key in self.user_writes]
        return [w for w, _ in self.user_writes], len(set(keys)) < len(keys)


def plan_batch(plan: Plan, ops: Sequence[AdminOp], now: float) -> None:
    """Check ``ops`` in order against ``plan``, appending one result per op to
    ``plan.results`` and recording their writes. ``now`` stamps what they create."""
    for index, op in enumerate(ops):
        try:
            plan.results.append(_plan_op(plan, index, op, now))
        except FaasError as exc:
            plan.results.append(exc)


def _plan_op(plan: Plan, index: int, op: AdminOp, now: float) -> WriteResult:
    """Check ``op`` against the planned state, record its writes, and return its result."""
    if isinstance(op, PutUser):
        if op.create_only and plan.users.get(op.name) is not None:
            raise Conflict(f"user '{op.name}' exists already")
        reset = user_reset(op.key_hash, now)
        plan.users[op.name] = {"name": op.name, **reset}
        plan.user_writes.append(
            (UpdateOne({"name": op.name}, {"$set": reset}, upsert=True), op.name)
        )
        return Done()
    if isinstance(op, DeleteUser):
        _user(plan, op.name)
        plan.users[op.name] = None
        plan.user_writes.append((DeleteOne({"name": op.name}), op.name))
        # Its jobs (records and logs) go with it: a name registered again starts empty.
        plan.job_writes.append((DeleteMany({"u_name": op.name}), f"user:{op.name}", index))
        return Done()
    if isinstance(op, PutFunction):
        fn = op.function
        if not key_ok(fn.name):
            raise BadRequest(f"function name {fn.name!r} is not allowed")
        functions = _user(plan, fn.user)["functions"]
        version = plan.versions[fn.user, fn.name] = plan.versions[fn.user, fn.name] + 1
        fn = stored_function(fn, version, now)
        functions[fn.name] = function_doc(fn)
        update = {"$set": {f"functions.{fn.name}": functions[fn.name]}}
        plan.user_writes.append((UpdateOne({"name": fn.user}, update), fn.user))
        return FunctionReply(function=fn)
    if isinstance(op, DeleteFunction):
        functions = _user(plan, op.user)["functions"]
        if op.name not in functions:
            raise NotFound(f"function '{op.name}' not found for user '{op.user}'")
        del functions[op.name]
        update = {"$unset": {f"functions.{op.name}": ""}}
        plan.user_writes.append((UpdateOne({"name": op.user}, update), op.user))
        return Done()
    if isinstance(op, SetBuild):
        return _plan_set_build(plan, op)
    if isinstance(op, PutSecret | DeleteSecret):
        return _plan_secret(plan, op)
    if plan.jobs.get(op.id) is None:
        raise NotFound(f"job '{op.id}' not found")
    plan.jobs[op.id] = None
    plan.job_writes.append((DeleteOne({"_id": ObjectId(op.id)}), op.id, index))
    return Done()


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
    plan.user_writes.append((UpdateOne(where, update), op.user))
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
    plan.user_writes.append((UpdateOne({"name": op.user}, update), op.user))
    return Done()


def _user(plan: Plan, name: str) -> Doc:
    doc = plan.users.get(name)
    if doc is None:
        raise NotFound(f"user '{name}' not found")
    doc.setdefault("functions", {})
    return doc
