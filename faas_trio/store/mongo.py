"""The MongoDB backend of the store: :class:`MongoStore`, the :class:`~faas_trio.store.base.Store`
on pymongo.

The database is ``faas`` unless the URL's path names another. Its documents and indexes are in
:mod:`.mongo_documents`; how a batch of write ops is planned and becomes bulk writes is in
:mod:`.mongo_writes`. This module is the client: the connection, the retries, the creation of
the indexes, the reads, the batches' reads and writes, the sweep.

pymongo blocks, so every call runs in a worker thread (at most 8 at once), never on the trio
thread. Batches are serialised by a lock: a batch's checks are reads done first, its effects are
planned in memory, and its writes go out as one ``bulk_write`` per collection (jobs, then
versions, then users). Transient errors (no server, failover, network timeout) are retried with
backoff for ``retry_timeout`` seconds, then raise ``PeerUnavailable``. A batch interrupted
mid-write is re-planned from fresh reads, so a job it had created comes back as
``existing=True``. Without a replica set MongoDB has no multi-collection transaction: a failure
between two bulk writes can leave a job finished and its time not yet added. A finished job
expires (the TTL index removes it) at the store's clock plus the retention. pymongo errors
never leave this module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import msgspec
import trio
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from ..core.errors import InternalError, PeerUnavailable
from ..core.ids import is_job_id
from ..core.records import Function, JobRecord, JobState, User
from .base import WriteOp, WriteResult
from .mongo_documents import (
    FINAL,
    JOB_INDEXES,
    NO_LOGS,
    UNFINISHED,
    USER_INDEXES,
    Doc,
    function_from_doc,
    job_from_doc,
    key_ok,
)
from .mongo_writes import Plan, batch_reads, plan_batch, with_sealed

__all__ = ["DEFAULT_RETENTION", "MongoStore"]

#: Seconds a finished job is kept before the TTL index removes it.
DEFAULT_RETENTION = 7 * 24 * 3600.0
_THREADS = 8
_TRANSIENT = (AutoReconnect, NotPrimaryError, NetworkTimeout, ServerSelectionTimeoutError)
_T = TypeVar("_T")


class _Transient(Exception):
    """A pymongo error worth retrying; its ``__cause__`` is the original."""


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Map pymongo errors: transient ones to ``_Transient`` (retried), the rest to
    ``InternalError``, each chained to the original."""
    try:
        yield
    except _TRANSIENT as exc:
        raise _Transient(str(exc)) from exc
    except PyMongoError as exc:
        raise InternalError(f"MongoDB error: {exc}") from exc


class MongoStore:
    """Users, functions and jobs in MongoDB. Made by :meth:`open`; closed by :meth:`aclose`
    (or by leaving it as an async context manager)."""

    def __init__(
        self, client: MongoClient[Doc], database: str, *, retention: float, retry_timeout: float
    ) -> None:
        db = client[database]
        self._client = client
        self._users: Collection[Doc] = db["users"]
        self._jobs: Collection[Doc] = db["jobs"]
        self._versions: Collection[Doc] = db["function_versions"]
        self._retention = retention
        self._retry_timeout = retry_timeout
        self._threads = trio.CapacityLimiter(_THREADS)
        self._batch_lock = trio.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        retention: float | None = None,
        retry_timeout: float = 10.0,
        select_timeout: float = 3.0,
    ) -> MongoStore:
        """Connect to ``url`` (``mongodb://…``) and create the collections' indexes.

        ``retention``: seconds a finished job is kept (the dbmanager passes
        ``FAAS_JOB_RETENTION``; default 7 days). ``retry_timeout``: how long transient errors
        are retried before ``PeerUnavailable``. ``select_timeout``: how long one call waits
        for a reachable server (also the connect timeout; the socket timeout is 3 times it).

        Raises:
            ValueError: the URL is not a valid MongoDB URL.
            PeerUnavailable: MongoDB could not be reached within ``retry_timeout``.

        Cancellation: waits for index creation; a cancel closes the client (shielded, at most
        5 s) before it propagates.
        """
        ms = int(select_timeout * 1000)

        def connect() -> MongoClient[Doc]:
            # In a thread: a mongodb+srv:// URL is resolved through DNS here.
            return MongoClient(
                url,
                serverSelectionTimeoutMS=ms,
                connectTimeoutMS=ms,
                socketTimeoutMS=3 * ms,
                connect=False,
                tz_aware=True,
            )

        try:
            client = await trio.to_thread.run_sync(connect)
            database = client.get_default_database(default="faas").name
        except PyMongoError as exc:  # ConfigurationError, InvalidURI
            raise ValueError(f"bad MongoDB URL: {exc}") from exc
        if retention is None:
            retention = DEFAULT_RETENTION
        store = cls(client, database, retention=retention, retry_timeout=retry_timeout)
        try:
            await store._retrying(store._create_indexes)
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await store.aclose()
            raise
        return store

    async def __aenter__(self) -> MongoStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its sockets. Idempotent.

        Cancellation: waits for the close in a thread, which is quick and not abandoned.
        """
        if not self._closed:
            self._closed = True
            await trio.to_thread.run_sync(self._client.close)

    # ---- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], _T], *, write: bool = False) -> _T:
        """Run blocking ``fn`` in a worker thread, pymongo errors translated.

        Cancellation: a read is abandoned (its thread ends on its own); a write is waited for,
        bounded by the socket timeout, so no write is left in flight unseen.
        """
        if self._closed:
            raise trio.ClosedResourceError("the store is closed")
        with _translated():
            return await trio.to_thread.run_sync(
                fn, limiter=self._threads, abandon_on_cancel=not write
            )

    async def _retrying(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Await ``fn(*args)``, retrying transient errors with backoff for ``retry_timeout``.

        Raises:
            PeerUnavailable: still failing at the deadline; chained to the pymongo error.

        Cancellation: waits in backoff sleeps and in ``fn``; a cancel propagates at once.
        """
        deadline = trio.current_time() + self._retry_timeout
        delay = 0.05
        while True:
            try:
                return await fn(*args)
            except _Transient as exc:
                if trio.current_time() + delay >= deadline:
                    raise PeerUnavailable(f"MongoDB unreachable: {exc}") from exc.__cause__
            await trio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _create_indexes(self) -> None:
        """Create the indexes of :mod:`.mongo_documents` (a no-op where they exist)."""
        await self._run(lambda: self._users.create_indexes(list(USER_INDEXES)), write=True)
        await self._run(lambda: self._jobs.create_indexes(list(JOB_INDEXES)), write=True)

    async def _find(
        self,
        collection: Collection[Doc],
        query: Doc,
        projection: Doc | None = None,
        sort: list[tuple[str, int]] | None = None,
        limit: int = 0,
    ) -> list[Doc]:
        """The matching documents, read with retries. Cancellation: abandons the read."""

        def find() -> list[Doc]:
            return list(collection.find(query, projection, sort=sort, limit=limit))

        docs: list[Doc] = await self._retrying(self._run, find)
        return docs

    # ---- reads (each abandoned on cancel) ------------------------------------------------

    async def get_user(self, name: str) -> User | None:
        docs = await self._find(self._users, {"name": name}, {"functions": False, "secrets": False})
        return msgspec.convert(docs[0], User) if docs else None

    async def get_function(self, user: str, name: str) -> Function | None:
        if not key_ok(name):
            return None
        docs = await self._find(self._users, {"name": user}, {f"functions.{name}": True})
        doc = docs[0].get("functions", {}).get(name) if docs else None
        return function_from_doc(user, name, doc) if doc is not None else None

    async def list_functions(self, user: str) -> list[Function]:
        """The user's functions by name; empty for an unknown user."""
        docs = await self._find(self._users, {"name": user}, {"functions": True})
        functions = docs[0].get("functions", {}) if docs else {}
        return [function_from_doc(user, name, functions[name]) for name in sorted(functions)]

    async def list_secrets(self, user: str) -> list[str] | None:
        """The names of the user's secrets, sorted; None for an unknown user."""
        docs = await self._find(self._users, {"name": user}, {"secrets": True})
        return sorted(docs[0].get("secrets") or {}) if docs else None

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job, or None (also for a malformed id)."""
        if not is_job_id(job_id):
            return None
        docs = await self._find(self._jobs, {"_id": ObjectId(job_id)}, NO_LOGS)
        return job_from_doc(docs[0]) if docs else None

    async def get_logs(self, job_id: str) -> str | None:
        """The job's logs ("" until it finishes), or None for an unknown job."""
        if not is_job_id(job_id):
            return None
        docs = await self._find(self._jobs, {"_id": ObjectId(job_id)}, {"logs": True})
        return str(docs[0].get("logs") or "") if docs else None

    async def list_jobs(self, user: str, state: JobState | None, limit: int) -> list[JobRecord]:
        """The user's jobs (in ``state`` if given), newest first, at most ``limit``."""
        if limit <= 0:
            return []
        query: Doc = {"u_name": user}
        if state is not None:
            query["state"] = state.value
        docs = await self._find(
            self._jobs, query, NO_LOGS, [("created_at", DESCENDING), ("_id", DESCENDING)], limit
        )
        return [job_from_doc(doc) for doc in docs]

    async def unfinished_jobs(self) -> tuple[list[JobRecord], list[Function]]:
        """Queued and running jobs, oldest first, and the functions they call (those that
        still exist), by user and name."""
        docs = await self._find(
            self._jobs,
            {"state": {"$in": UNFINISHED}},
            NO_LOGS,
            [("created_at", ASCENDING), ("_id", ASCENDING)],
        )
        jobs = [job_from_doc(doc) for doc in docs]
        wanted = {(job.user, job.function) for job in jobs}
        users = await self._find(self._users, {"name": {"$in": sorted({u for u, _ in wanted})}})
        functions = [
            with_sealed(function_from_doc(u["name"], name, doc), u)
            for u in users
            for name, doc in u.get("functions", {}).items()
            if (u["name"], name) in wanted
        ]
        return jobs, sorted(functions, key=lambda fn: (fn.user, fn.name))

    async def sweep(self, finished_before: float) -> int:
        """Delete final jobs finished before ``finished_before`` (the TTL index also does, on
        its own); return how many. Cancellation: waits for the delete."""

        def delete() -> int:
            query = {"state": {"$in": FINAL}, "finished_at": {"$lt": finished_before}}
            return int(self._jobs.delete_many(query).deleted_count)

        count: int = await self._retrying(lambda: self._run(delete, write=True))
        return count

    # ---- writes --------------------------------------------------------------------------

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply ``ops`` in order; one result per op (see the module docstring for what holds
        when MongoDB fails mid-batch).

        Raises:
            PeerUnavailable: MongoDB stayed unreachable for ``retry_timeout``.
            InternalError: MongoDB refused a read or a whole bulk write.

        Cancellation: waits for the batch lock, for reads and for writes; a cancel during a
        write waits for it (bounded by the socket timeout), so a batch may be half applied.
        """
        if not ops:
            return []
        async with self._batch_lock:
            results: list[WriteResult] = await self._retrying(self._apply_once, ops)
            return results

    async def _apply_once(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        plan = await self._read_for(ops)
        plan_batch(plan, ops, time.time(), self._retention)
        if plan.job_writes:
            await self._write_jobs(plan)
        versions = plan.version_writes()
        if versions:
            await self._run(lambda: self._versions.bulk_write(versions, ordered=False), write=True)
        users, ordered = plan.user_bulk()
        if users:
            await self._run(lambda: self._users.bulk_write(users, ordered=ordered), write=True)
        return plan.results

    async def _read_for(self, ops: Sequence[WriteOp]) -> Plan:
        """Read every user, job and function version the batch's checks need."""
        reads = batch_reads(ops)
        users = await self._find_all(self._users, reads.users)
        jobs = await self._find_all(self._jobs, reads.jobs, NO_LOGS)
        versions = await self._find_all(self._versions, reads.versions)
        return Plan.from_reads(reads, users, jobs, versions)

    async def _find_all(
        self, collection: Collection[Doc], query: Doc | None, projection: Doc | None = None
    ) -> list[Doc]:
        """The matching documents (no retry: the batch retries as a whole), or none when
        there is no ``query``."""
        if query is None:
            return []
        return await self._run(lambda: list(collection.find(query, projection)))

    async def _write_jobs(self, plan: Plan) -> None:
        """Write the jobs, then correct the planned results where the database disagrees
        (another writer raced this batch, or a write failed)."""
        writes, ordered = plan.job_bulk()

        def bulk() -> Doc:
            try:
                return dict(self._jobs.bulk_write(writes, ordered=ordered).bulk_api_result)
            except BulkWriteError as exc:
                return dict(exc.details)

        outcome = await self._run(bulk, write=True)
        oids = plan.jobs_to_recheck(outcome)
        if oids is None:
            return
        stored = await self._run(lambda: list(self._jobs.find({"_id": {"$in": oids}}, NO_LOGS)))
        plan.correct_jobs(outcome, stored)
