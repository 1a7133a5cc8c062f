"""How the MongoDB store applies a batch of writes: the round trips, in order.

A batch is cut into runs of consecutive ops of one kind, applied in order: job ops
(:mod:`.mongo_jobs`: no read in the common case, then one unordered ``bulk_write`` to
``jobs`` and one to ``users``), and the rarer user, function and job-deletion ops
(:mod:`.mongo_writes`: reads, then one ``bulk_write`` per collection; such an op alone in
its run is answered by its write alone where it can be, :mod:`.mongo_direct`). Under load a batch is
all job ops, so it costs one round trip if it only creates jobs and two if it finishes some,
however many ops it holds; a function seen for the first time costs one read more.

Accounting stays exact without a transaction (see :mod:`.mongo_accounting`): a batch that
finishes jobs first writes its pending record (one small document), and :meth:`BatchWriter.heal`
counts what a crash left uncounted; the store runs it when it opens and after a batch that
failed part way.

Runs in the store's trio thread; every database call goes through the ``run`` callable the
store gives (a worker thread, errors translated, each command counted under ``write``): ``run``
for writes (waited for on cancel), ``read`` for reads (abandoned on cancel).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import trio
from bson import ObjectId
from pymongo import UpdateMany
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from ..core.messages import (
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    FinishJob,
    FunctionReply,
    JobCreated,
    PutSecret,
    PutUser,
    RequeueJob,
    SetBuild,
    StartJob,
)
from .base import WriteOp, WriteResult
from .crash import crash_point
from .mongo_accounting import PENDING_FIELDS, flagged_increments, pending_increments, pending_write
from .mongo_cache import FinalJobs, FunctionCache
from .mongo_direct import is_direct, write_direct
from .mongo_documents import NO_LOGS, Doc
from .mongo_jobs import JobBatch, JobOp
from .mongo_writes import AdminOp, Plan, batch_reads, plan_batch

__all__ = ["BatchWriter"]

_T = TypeVar("_T")
Run = Callable[[Callable[[], _T]], Awaitable[_T]]


def _is_job_op(op: WriteOp) -> bool:
    return isinstance(op, CreateJob | StartJob | RequeueJob | FinishJob)


def _runs(ops: Sequence[WriteOp]) -> list[list[tuple[int, WriteOp]]]:
    """``ops`` with their positions, cut into runs of consecutive ops of one kind."""
    runs: list[list[tuple[int, WriteOp]]] = []
    for index, op in enumerate(ops):
        if runs and _is_job_op(runs[-1][-1][1]) == _is_job_op(op):
            runs[-1].append((index, op))
        else:
            runs.append([(index, op)])
    return runs


class BatchWriter:
    """Applies batches to the ``users``, ``jobs``, ``function_versions`` and ``accounting``
    collections."""

    def __init__(
        self,
        users: Collection[Doc],
        jobs: Collection[Doc],
        versions: Collection[Doc],
        accounting: Collection[Doc],
        run: Run[Any],
        read: Run[Any],
        *,
        retention: float,
    ) -> None:
        self._users = users
        self._jobs = jobs
        self._versions = versions
        self._accounting = accounting
        #: This store's pending record in ``accounting`` (one per store instance).
        self._instance = str(ObjectId())
        self._run = run
        self._read = read
        self._retention = retention
        self.functions = FunctionCache()
        self.finals = FinalJobs()

    async def apply(self, ops: Sequence[WriteOp], now: float) -> list[WriteResult]:
        """Apply ``ops`` in order; one result per op. Cancellation: as the store's apply."""
        results: dict[int, WriteResult] = {}
        for run in _runs(ops):
            if _is_job_op(run[0][1]):
                results.update(await self._apply_jobs(run, now))  # type: ignore[arg-type]
            else:
                results.update(await self._apply_admin(run, now))  # type: ignore[arg-type]
        return [results[index] for index in range(len(ops))]

    async def heal(self) -> int:
        """Count the time of every final job not yet accounted (idempotent: a job already
        counted is not counted again); how many users' updates added time.

        Pending records of other store instances are healed and removed too: a store opens
        when the one before it on the database is gone.
        """
        pending = await self._read(lambda: list(self._accounting.find({})))
        added = 0
        if pending:
            oids = [oid for record in pending for oid, _ in record.get("finishes", [])]
            named: Doc = {"_id": {"$in": oids}}
            jobs = await self._read(lambda: list(self._jobs.find(named, PENDING_FIELDS)))
            if updates := pending_increments(pending, jobs):
                added += await self._run(lambda: self._modified(self._users, updates))
            done = {"_id": {"$in": [record["_id"] for record in pending]}}
            await self._run(lambda: self._accounting.delete_many(done))
        # Jobs flagged by earlier versions, which marked each finished job.
        flags: Doc = {"accounted": {"$exists": True}}
        projection = {"u_name": True, "duration_ms": True, "accounted": True}
        docs = await self._read(lambda: list(self._jobs.find(flags, projection)))
        if docs:
            flagged = flagged_increments(docs)
            added += await self._run(lambda: self._modified(self._users, flagged))
            oids = [doc["_id"] for doc in docs]
            done_flags = UpdateMany({"_id": {"$in": oids}}, {"$unset": {"accounted": ""}})
            await self._run(lambda: self._jobs.bulk_write([done_flags]))
        return added

    async def _apply_jobs(self, run: list[tuple[int, JobOp]], now: float) -> dict[int, WriteResult]:
        batch = JobBatch(run, now, self._retention)
        missing = batch.functions_missing(self.functions)
        users_read = await self._read_functions(missing) if missing else set()
        batch.plan(self.functions, users_read)
        waves = batch.waves()
        pending = batch.pending()
        for number, wave in enumerate(waves):
            # pymongo sends a bulk write's inserts and updates as two commands anyway: sent
            # apart, the inserts go alongside the pending record, which must be stored before
            # the finishes (what a crash after them leaves uncounted is found by it).
            inserts = [w for w in wave if w.changes is None]
            updates = [w for w in wave if w.changes is not None]
            async with trio.open_nursery() as nursery:
                if number == 0 and pending:
                    record = [pending_write(self._instance, batch.token, pending)]
                    nursery.start_soon(self._run, partial(self._accounting.bulk_write, record))
                if inserts:
                    writes = [w.write for w in inserts]
                    batch.record(inserts, await self._run(partial(self._bulk, self._jobs, writes)))
            if updates:
                writes = [w.write for w in updates]
                batch.record(updates, await self._run(partial(self._bulk, self._jobs, writes)))
        if (query := batch.duplicates()) is not None:
            stored = await self._read(lambda: list(self._jobs.find(query, NO_LOGS)))
            wanted = {f for f in batch.stored_functions(stored) if self.functions.get(*f) is None}
            if wanted:
                await self._read_functions(wanted)
            batch.resolve_duplicates(stored, self.functions)
        if (unsure := batch.unsure()) is not None:
            projection = {"last_write": True}
            stored = await self._read(lambda: list(self._jobs.find(unsure, projection)))
            batch.correct(stored)
        if increments := batch.increments():
            crash_point("finish-before-time")
            outcome = await self._run(lambda: self._bulk(self._users, increments))
            if outcome.get("nMatched", 0) != len(increments):
                # A user gone, or a batch counted already: decide from what is stored.
                await self.heal()
        for result in batch.results.values():
            if isinstance(result, JobCreated) and not result.existing:
                self.finals.created(result.job)
        for job in batch.finished():
            self.finals.finished(job, now + self._retention)
        return batch.results

    async def _read_functions(self, wanted: set[tuple[str, str]]) -> set[str]:
        """Read the ``wanted`` functions into the cache; the names of the users found."""
        names = sorted({user for user, _ in wanted})
        projection: Doc = {"name": True, "secrets": True}
        projection.update((f"functions.{name}", True) for _, name in wanted)
        query = {"name": {"$in": names}}
        users = await self._read(lambda: list(self._users.find(query, projection)))
        return self.functions.fill(wanted, users)

    async def _apply_admin(
        self, run: list[tuple[int, AdminOp]], now: float
    ) -> dict[int, WriteResult]:
        ops = [op for _, op in run]
        if len(run) == 1 and is_direct(op := run[0][1]):
            write = partial(write_direct, self._users, self._jobs, op, now)
            result: WriteResult = await self._run(write)
            self._forget(op, result)
            return {run[0][0]: result}
        reads = batch_reads(ops)
        users = await self._find(self._users, reads.users)
        jobs = await self._find(self._jobs, reads.jobs, {"_id": True})
        versions = await self._find(self._versions, reads.versions)
        plan = Plan.from_reads(reads, users, jobs, versions)
        plan_batch(plan, ops, now)
        if deletions := plan.job_bulk():
            plan.fail_jobs(await self._run(lambda: self._bulk(self._jobs, deletions)))
        if versions_written := plan.version_writes():
            await self._run(lambda: self._versions.bulk_write(versions_written, ordered=False))
        writes, ordered = plan.user_bulk()
        if writes:
            await self._run(lambda: self._users.bulk_write(writes, ordered=ordered))
        for op, result in zip(ops, plan.results, strict=True):
            self._forget(op, result)
        return {index: plan.results[i] for i, (index, _) in enumerate(run)}

    def _forget(self, op: AdminOp, result: WriteResult) -> None:
        """Keep the function cache true to what ``op`` changed."""
        if isinstance(result, FunctionReply) and not result.function.secrets:
            self.functions.put(result.function)
        elif isinstance(result, FunctionReply):  # read again, with its sealed secrets
            self.functions.drop(result.function.user, result.function.name)
        elif isinstance(op, PutUser | DeleteUser):
            self.functions.drop(op.name)
            self.finals.drop_user(op.name)
        elif isinstance(op, DeleteFunction | SetBuild):
            self.functions.drop(op.user, op.name)
        elif isinstance(op, PutSecret | DeleteSecret):
            self.functions.drop(op.user)
        elif isinstance(op, DeleteJob):
            self.finals.drop(op.id)

    async def _find(
        self, collection: Collection[Doc], query: Doc | None, projection: Doc | None = None
    ) -> list[Doc]:
        if query is None:
            return []
        docs: list[Doc] = await self._read(lambda: list(collection.find(query, projection)))
        return docs

    @staticmethod
    def _modified(collection: Collection[Doc], writes: list[Any]) -> int:
        """How many documents an unordered bulk write of ``writes`` changed."""
        return int(collection.bulk_write(writes, ordered=False).modified_count)

    @staticmethod
    def _bulk(collection: Collection[Doc], writes: list[Any]) -> Doc:
        """An unordered bulk write's result, or the details of its ``BulkWriteError``."""
        try:
            return dict(collection.bulk_write(writes, ordered=False).bulk_api_result)
        except BulkWriteError as exc:
            return dict(exc.details)
