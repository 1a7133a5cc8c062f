"""The MongoDB backend of the store: :class:`MongoStore`, the :class:`~faas_trio.store.base.Store`
on pymongo.

The database is ``faas`` unless the URL's path names another. Its documents and indexes are in
:mod:`.mongo_documents`; how a batch of writes becomes round trips is in :mod:`.mongo_apply`
(planned by :mod:`.mongo_jobs` and :mod:`.mongo_writes`). This module is the store: the
connection, the creation of the indexes, the reads, the sweep; each call runs as
:class:`~.mongo_client.MongoCalls` says.

pymongo blocks, so every call runs in a worker thread (at most 8 at once), never on the trio
thread. Batches are serialised by a lock. Transient errors (no server, failover, network
timeout) are retried with backoff for ``retry_timeout`` seconds, then raise
``PeerUnavailable``. A batch interrupted mid-write is tried again: a job it had created comes
back as ``existing=True``, a transition it had made as applied. Time is counted exactly
without a multi-document transaction (MongoDB has none without a replica set): see
:mod:`.mongo_accounting`; the store counts what a crash left uncounted when it opens, and after a
batch that failed part way.

Writes are acknowledged with the URL's write concern; when the URL sets none, with
``w=majority`` and ``journal=true`` (on a single server, majority is that server): a write is
answered only once it is in the journal of a majority. Every command is counted by
:class:`~faas_trio.store.monitoring.StoreMonitor` (pymongo's command monitoring) under the
store operation it served. A finished job expires (the TTL index removes it) at the store's
clock plus the retention. pymongo errors never leave this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import cast

import msgspec
import trio
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from ..core.ids import is_job_id
from ..core.messages import GroupCreated
from ..core.records import Function, GroupCounts, GroupRecord, JobRecord, JobState, User
from .base import WriteOp, WriteResult
from .mongo_apply import BatchWriter
from .mongo_client import MongoCalls, new_client
from .mongo_documents import (
    FINAL,
    JOB_INDEXES,
    NO_LOGS,
    OBSOLETE_JOB_INDEXES,
    UNFINISHED,
    USER_INDEXES,
    Doc,
    function_from_doc,
    job_from_doc,
    key_ok,
    with_sealed,
)
from .mongo_groups import GROUP_INDEXES, ITEM_INDEXES, MongoGroups
from .monitoring import StoreMonitor

__all__ = ["DEFAULT_RETENTION", "MongoStore"]

#: Seconds a finished job is kept before the TTL index removes it.
DEFAULT_RETENTION = 7 * 24 * 3600.0
log = logging.getLogger("faas.dbmanager")


class MongoStore(MongoCalls):
    """Users, functions and jobs in MongoDB. Made by :meth:`open`; closed by :meth:`aclose`
    (or by leaving it as an async context manager)."""

    def __init__(
        self,
        client: MongoClient[Doc],
        database: str,
        *,
        retention: float,
        retry_timeout: float,
        monitor: StoreMonitor | None = None,
    ) -> None:
        super().__init__(client, retry_timeout=retry_timeout, monitor=monitor)
        db = client[database]
        self._users: Collection[Doc] = db["users"]
        self._jobs: Collection[Doc] = db["jobs"]
        self._versions: Collection[Doc] = db["function_versions"]
        self._groups = MongoGroups(self._users, self._jobs, db["groups"], retention)
        self._retention = retention
        self._batch_lock = trio.Lock()
        self._writer = BatchWriter(
            self._users,
            self._jobs,
            self._versions,
            db["accounting"],
            self._run_write,
            self._run_read,
            retention=retention,
        )
        #: A batch failed part way: count what it may have left uncounted before the next.
        self._heal_needed = True

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
        monitor = StoreMonitor()

        def connect() -> MongoClient[Doc]:
            # In a thread: a mongodb+srv:// URL is resolved through DNS here.
            return new_client(url, select_timeout, monitor)

        try:
            client = await trio.to_thread.run_sync(connect)
            database = client.get_default_database(default="faas").name
        except PyMongoError as exc:  # ConfigurationError, InvalidURI
            raise ValueError(f"bad MongoDB URL: {exc}") from exc
        if retention is None:
            retention = DEFAULT_RETENTION
        store = cls(
            client, database, retention=retention, retry_timeout=retry_timeout, monitor=monitor
        )
        try:
            await store._retrying(store._create_indexes)
            async with store._batch_lock:
                await store._retrying(store._heal)
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await store.aclose()
            raise
        return store

    async def __aenter__(self) -> MongoStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _create_indexes(self) -> None:
        """Create the indexes of :mod:`.mongo_documents` (a no-op where they exist)."""
        users, jobs = list(USER_INDEXES), list(JOB_INDEXES)
        await self._run(lambda: self._users.create_indexes(users), op="indexes", write=True)
        await self._run(lambda: self._jobs.create_indexes(jobs), op="indexes", write=True)
        items, groups = list(ITEM_INDEXES), self._groups.collection
        await self._run(lambda: self._jobs.create_indexes(items), op="indexes", write=True)
        made = list(GROUP_INDEXES)
        await self._run(lambda: groups.create_indexes(made), op="indexes", write=True)

        def drop_obsolete() -> None:
            existing = {index["name"] for index in self._jobs.list_indexes()}
            for name in OBSOLETE_JOB_INDEXES:
                if name in existing:
                    self._jobs.drop_index(name)

        await self._run(drop_obsolete, op="indexes", write=True)

    async def _heal(self) -> None:
        """Count the time of final jobs a crash (or a failed batch) left uncounted."""
        if healed := await self._writer.heal():
            log.warning("counted time left uncounted by a crash (%d users' updates)", healed)
        self._heal_needed = False

    # ---- reads (each abandoned on cancel) ------------------------------------------------

    async def get_user(self, name: str) -> User | None:
        projection = {"functions": False, "accounted_jobs": False, "secrets": False}
        docs = await self._find(self._users, {"name": name}, projection, op="get_user")
        return msgspec.convert(docs[0], User) if docs else None

    async def get_function(self, user: str, name: str) -> Function | None:
        if not key_ok(name):
            return None
        projection = {f"functions.{name}": True}
        docs = await self._find(self._users, {"name": user}, projection, op="get_function")
        doc = docs[0].get("functions", {}).get(name) if docs else None
        return function_from_doc(user, name, doc) if doc is not None else None

    async def list_functions(self, user: str) -> list[Function]:
        """The user's functions by name; empty for an unknown user."""
        docs = await self._find(
            self._users, {"name": user}, {"functions": True}, op="list_functions"
        )
        functions = docs[0].get("functions", {}) if docs else {}
        return [function_from_doc(user, name, functions[name]) for name in sorted(functions)]

    async def list_secrets(self, user: str) -> list[str] | None:
        """The names of the user's secrets, sorted; None for an unknown user."""
        docs = await self._find(self._users, {"name": user}, {"secrets": True}, op="list_secrets")
        return sorted(docs[0].get("secrets") or {}) if docs else None

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job, or None (also for a malformed id)."""
        if not is_job_id(job_id):
            return None
        if (final := self._writer.finals.get(job_id)) is not None:
            return final  # as this store finished it: a final job never changes
        docs = await self._find(self._jobs, {"_id": ObjectId(job_id)}, NO_LOGS, op="get_job")
        return job_from_doc(docs[0]) if docs else None

    async def get_logs(self, job_id: str) -> str | None:
        """The job's logs ("" until it finishes), or None for an unknown job."""
        if not is_job_id(job_id):
            return None
        query = {"_id": ObjectId(job_id)}
        docs = await self._find(self._jobs, query, {"logs": True}, op="get_logs")
        return str(docs[0].get("logs") or "") if docs else None

    async def list_jobs(self, user: str, state: JobState | None, limit: int) -> list[JobRecord]:
        """The user's jobs (in ``state`` if given), newest first, at most ``limit``."""
        if limit <= 0:
            return []
        query: Doc = {"u_name": user}
        if state is not None:
            query["state"] = state.value
        order = [("created_at", DESCENDING), ("_id", DESCENDING)]
        docs = await self._find(self._jobs, query, NO_LOGS, order, limit, op="list_jobs")
        return [job_from_doc(doc) for doc in docs]

    async def unfinished_jobs(self) -> tuple[list[JobRecord], list[Function]]:
        """Queued and running jobs, oldest first, and the functions they call (those that
        still exist), by user and name."""
        docs = await self._find(
            self._jobs,
            {"status": 0, "state": {"$in": UNFINISHED}},  # status: the partial index
            NO_LOGS,
            [("created_at", ASCENDING), ("_id", ASCENDING)],
            op="unfinished_jobs",
        )
        jobs = [job_from_doc(doc) for doc in docs]
        wanted = {(job.user, job.function) for job in jobs}
        names = sorted({u for u, _ in wanted})
        users = await self._find(
            self._users,
            {"name": {"$in": names}},
            {"name": True, "functions": True, "secrets": True},
            op="unfinished_jobs",
        )
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

        count: int = await self._retrying(lambda: self._run(delete, op="sweep", write=True))
        self._writer.finals.sweep(finished_before)
        return count

    async def stored_bytes(self, user: str) -> int:
        """The sum of ``bytes`` over ``user``'s jobs, summed when asked rather than kept as a
        counter: the TTL index deletes jobs inside MongoDB, where no counter would hear of it.
        Cancellation: the read is abandoned."""
        match: list[Doc] = [
            {"$match": {"u_name": user}}, {"$group": {"_id": None, "b": {"$sum": "$bytes"}}}
        ]  # fmt: skip

        def total() -> int:
            return sum(int(row["b"]) for row in self._jobs.aggregate(match))

        return int(await self._retrying(partial(self._run, total, op="stored_bytes")))

    # ---- groups (see mongo_groups; reads abandoned on cancel, a create waited for) ----------

    async def create_group(self, group: GroupRecord, args: Sequence[str]) -> GroupCreated:
        async with self._batch_lock:
            create = partial(self._groups.create, group, args, time.time())
            run = partial(self._run, create, op="create_group", write=True)
            return cast(GroupCreated, await self._retrying(run))

    async def get_group(self, group_id: str) -> tuple[GroupRecord, GroupCounts] | None:
        run = partial(self._run, partial(self._groups.get, group_id), op="get_group")
        return cast("tuple[GroupRecord, GroupCounts] | None", await self._retrying(run))

    async def group_items(
        self,
        group_id: str,
        offset: int,
        limit: int,
        indices: Sequence[int] | None,
        final_only: bool,
    ) -> list[JobRecord]:
        read = partial(self._groups.items, group_id, offset, limit, indices, final_only)
        return cast(list[JobRecord], await self._retrying(partial(self._run, read, op="items")))

    async def list_groups(self, user: str, limit: int) -> list[GroupRecord]:
        run = partial(self._run, partial(self._groups.list, user, limit), op="list_groups")
        return cast(list[GroupRecord], await self._retrying(run))  # fmt: skip

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
        if self._heal_needed:
            await self._heal()
        self._heal_needed = True  # until this batch is through
        results = await self._writer.apply(ops, time.time())
        self._heal_needed = False
        return results
