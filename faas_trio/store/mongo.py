"""The MongoDB store: :class:`MongoStore`, the :class:`~faas_trio.store.base.Store` on pymongo.

Layout (database ``faas`` unless the URL's path names another), close to the old system's::

    users      {name, functions: {f_name: {source, runtime, timeout, memory_mb, version,
                updated_at}}, execution_time_ms, key_hash, created_at}
    jobs       {_id: ObjectId(job id), u_name, f_name, runtime, args (JSON text), argv (the
                same as a value), status: 0|1 (1 once final), state, result, value, error,
                attempts, worker, cold_start, init_ms, created_at, timestamp (created_at as a
                date), started_at, finished_at, duration_ms, idempotency_key, callback, logs,
                expire_at}
    function_versions  {_id: {user, name}, version}: the last version a function ever had,
                so one deleted and registered again never reuses a version

Indexes: ``users.name`` unique; ``jobs (state, created_at)``; ``jobs (u_name, created_at)``;
``jobs (u_name, idempotency_key)`` unique where the key is a string; a TTL index on
``jobs.expire_at``, set when a job finishes to the store's clock plus the retention.

pymongo blocks, so every call runs in a worker thread (at most 8 at once), never on the trio
thread. Batches are serialised by a lock: a batch's checks are reads done first, its effects are
planned in memory (so an op sees the earlier ops of its batch), and its writes go out as one
``bulk_write`` per collection (jobs, then versions, then users), unordered unless two writes
touch the same document. Transitions keep a filter on the state, so a final state never changes
even if another writer raced this one; the results are then corrected from a re-read. Transient
errors (no server, failover, network timeout) are retried with backoff for ``retry_timeout``
seconds, then raise ``PeerUnavailable``. A batch interrupted mid-write is re-planned from fresh
reads, so a job it had created comes back as ``existing=True``. Without a replica set MongoDB has
no multi-collection transaction: a failure between two bulk writes can leave a job finished and
its time not yet added. Function names holding ``.`` or starting with ``$`` cannot be keys of
the ``functions`` document and are refused (``BadRequest``). pymongo errors never leave this
module.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import trio
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, DeleteOne, IndexModel, InsertOne, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from ..core.config import env_float
from ..core.errors import BadRequest, Conflict, FaasError, InternalError, NotFound, PeerUnavailable
from ..core.ids import is_job_id
from ..core.messages import (
    FINAL_STATES,
    Changed,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteUser,
    Done,
    FinishJob,
    Function,
    FunctionReply,
    JobCreated,
    JobRecord,
    JobState,
    PutFunction,
    PutUser,
    RequeueJob,
    StartJob,
    User,
)
from .base import WriteOp, WriteResult

__all__ = ["DEFAULT_RETENTION", "MongoStore"]

#: Seconds a finished job is kept before the TTL index removes it.
DEFAULT_RETENTION = 7 * 24 * 3600.0
_THREADS = 8
_TRANSIENT = (AutoReconnect, NotPrimaryError, NetworkTimeout, ServerSelectionTimeoutError)
_FINAL = sorted(s.value for s in FINAL_STATES)
_UNFINISHED = [JobState.QUEUED.value, JobState.RUNNING.value]
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
_NO_LOGS = {"logs": False}
_T = TypeVar("_T")
Doc = dict[str, Any]


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


def _date(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _key_ok(name: str) -> bool:
    """Whether a function name can be a key of the embedded ``functions`` document."""
    return name != "" and "." not in name and not name.startswith("$") and "\0" not in name


def _function_doc(fn: Function) -> Doc:
    doc: Doc = msgspec.to_builtins(fn)
    del doc["user"], doc["name"]
    return doc


def _function(user: str, name: str, doc: Doc) -> Function:
    return msgspec.convert({**doc, "user": user, "name": name}, Function)


def _job_doc(job: JobRecord) -> Doc:
    doc: Doc = msgspec.to_builtins(job)
    try:
        argv = json.loads(job.args)
    except ValueError:
        argv = None
    doc.update(
        _id=ObjectId(job.id),
        u_name=job.user,
        f_name=job.function,
        argv=argv,
        status=1 if job.is_final else 0,
        timestamp=_date(job.created_at),
        logs="",
    )
    del doc["id"], doc["user"], doc["function"]
    return doc


def _job(doc: Doc) -> JobRecord:
    # Documents written by the old system have ``argv``, ``status`` and no ``args``, ``state``.
    fields = {
        **doc,
        "id": str(doc["_id"]),
        "user": doc["u_name"],
        "function": doc["f_name"],
        "args": doc["args"] if "args" in doc else json.dumps(doc.get("argv", [])),
        "runtime": doc.get("runtime", "node"),
    }
    fields.setdefault("state", "succeeded" if doc.get("status") == 1 else "queued")
    return msgspec.convert(fields, JobRecord)


@dataclass
class _Plan:
    """A batch's state as read, its results, and the writes that make them true."""

    users: dict[str, Doc | None]
    jobs: dict[str, Doc | None]
    versions: dict[tuple[str, str], int]
    results: list[WriteResult] = field(default_factory=list)
    #: (write, key of the document it touches, index of the FinishJob op it adds time for).
    user_writes: list[tuple[Any, str, int | None]] = field(default_factory=list)
    #: (write, job id, index of its op, the fields a transition sets or None).
    job_writes: list[tuple[Any, str, int, Doc | None]] = field(default_factory=list)


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

        ``retention``: seconds a finished job is kept (default: ``FAAS_JOB_RETENTION``, else
        7 days). ``retry_timeout``: how long transient errors are retried before
        ``PeerUnavailable``. ``select_timeout``: how long one call waits for a reachable
        server (also the connect timeout; the socket timeout is 3 times it).

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
            retention = env_float("FAAS_JOB_RETENTION", DEFAULT_RETENTION)
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
        await self._run(
            lambda: self._users.create_indexes([IndexModel("name", unique=True)]), write=True
        )
        await self._run(
            lambda: self._jobs.create_indexes(
                [
                    IndexModel([("state", ASCENDING), ("created_at", ASCENDING)]),
                    IndexModel([("u_name", ASCENDING), ("created_at", ASCENDING)]),
                    IndexModel(
                        [("u_name", ASCENDING), ("idempotency_key", ASCENDING)],
                        unique=True,
                        partialFilterExpression={"idempotency_key": {"$type": "string"}},
                    ),
                    IndexModel("expire_at", expireAfterSeconds=0),
                ]
            ),
            write=True,
        )

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
        docs = await self._find(self._users, {"name": name}, {"functions": False})
        return msgspec.convert(docs[0], User) if docs else None

    async def get_function(self, user: str, name: str) -> Function | None:
        if not _key_ok(name):
            return None
        docs = await self._find(self._users, {"name": user}, {f"functions.{name}": True})
        doc = docs[0].get("functions", {}).get(name) if docs else None
        return _function(user, name, doc) if doc is not None else None

    async def list_functions(self, user: str) -> list[Function]:
        """The user's functions by name; empty for an unknown user."""
        docs = await self._find(self._users, {"name": user}, {"functions": True})
        functions = docs[0].get("functions", {}) if docs else {}
        return [_function(user, name, functions[name]) for name in sorted(functions)]

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job, or None (also for a malformed id)."""
        if not is_job_id(job_id):
            return None
        docs = await self._find(self._jobs, {"_id": ObjectId(job_id)}, _NO_LOGS)
        return _job(docs[0]) if docs else None

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
            self._jobs, query, _NO_LOGS, [("created_at", DESCENDING), ("_id", DESCENDING)], limit
        )
        return [_job(doc) for doc in docs]

    async def unfinished_jobs(self) -> tuple[list[JobRecord], list[Function]]:
        """Queued and running jobs, oldest first, and the functions they call (those that
        still exist), by user and name."""
        docs = await self._find(
            self._jobs,
            {"state": {"$in": _UNFINISHED}},
            _NO_LOGS,
            [("created_at", ASCENDING), ("_id", ASCENDING)],
        )
        jobs = [_job(doc) for doc in docs]
        wanted = {(job.user, job.function) for job in jobs}
        users = await self._find(self._users, {"name": {"$in": sorted({u for u, _ in wanted})}})
        functions = [
            _function(u["name"], name, doc)
            for u in users
            for name, doc in u.get("functions", {}).items()
            if (u["name"], name) in wanted
        ]
        return jobs, sorted(functions, key=lambda fn: (fn.user, fn.name))

    async def sweep(self, finished_before: float) -> int:
        """Delete final jobs finished before ``finished_before`` (the TTL index also does, on
        its own); return how many. Cancellation: waits for the delete."""

        def delete() -> int:
            query = {"state": {"$in": _FINAL}, "finished_at": {"$lt": finished_before}}
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
        now = time.time()
        for index, op in enumerate(ops):
            try:
                plan.results.append(self._plan_op(plan, index, op, now))
            except FaasError as exc:
                plan.results.append(exc)
        if plan.job_writes:
            await self._write_jobs(plan)
        versions = [
            UpdateOne({"_id": {"user": u, "name": n}}, {"$max": {"version": v}}, upsert=True)
            for (u, n), v in plan.versions.items()
            if v
        ]
        if versions:
            await self._run(lambda: self._versions.bulk_write(versions, ordered=False), write=True)
        users = [
            (w, key)
            for w, key, finish in plan.user_writes
            if finish is None or plan.results[finish] == Changed(applied=True)
        ]
        if users:
            ordered = len({key for _, key in users}) < len(users)
            await self._run(
                lambda: self._users.bulk_write([w for w, _ in users], ordered=ordered), write=True
            )
        return plan.results

    async def _read_for(self, ops: Sequence[WriteOp]) -> _Plan:
        """Read every user, job and function version the batch's checks need."""
        names: set[str] = set()
        ids: set[str] = set()
        functions: set[tuple[str, str]] = set()
        keyed: list[Doc] = []
        for op in ops:
            if isinstance(op, PutUser | DeleteUser):
                names.add(op.name)
            elif isinstance(op, DeleteFunction):
                names.add(op.user)
            elif isinstance(op, PutFunction):
                names.add(op.function.user)
                functions.add((op.function.user, op.function.name))
            elif isinstance(op, CreateJob | FinishJob):
                names.add(op.job.user)
                ids.add(op.job.id)
                if isinstance(op, CreateJob) and op.job.idempotency_key is not None:
                    keyed.append({"u_name": op.job.user, "idempotency_key": op.job.idempotency_key})
            else:
                ids.add(op.id)
        oids = [ObjectId(i) for i in ids if is_job_id(i)]
        vids = [{"user": u, "name": n} for u, n in sorted(functions)]
        users = await self._find_all(self._users, {"name": {"$in": sorted(names)}}, bool(names))
        query = {"$or": [{"_id": {"$in": oids}}, *keyed]}
        jobs = await self._find_all(self._jobs, query, bool(oids or keyed), _NO_LOGS)
        versions = await self._find_all(self._versions, {"_id": {"$in": vids}}, bool(vids))
        plan = _Plan(
            users={name: None for name in names},
            jobs={i: None for i in ids},
            versions={(u, n): 0 for u, n in functions},
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

    async def _find_all(
        self, collection: Collection[Doc], query: Doc, needed: bool, projection: Doc | None = None
    ) -> list[Doc]:
        """The matching documents (no retry: the batch retries as a whole), or none when the
        read is not ``needed``."""
        if not needed:
            return []
        return await self._run(lambda: list(collection.find(query, projection)))

    def _plan_op(self, plan: _Plan, index: int, op: WriteOp, now: float) -> WriteResult:
        """Check ``op`` against the planned state, record its writes, and return its result."""
        if isinstance(op, PutUser):
            # A reset: the user's functions go, its time starts again from zero.
            reset: Doc = {
                "functions": {},
                "execution_time_ms": 0.0,
                "key_hash": op.key_hash,
                "created_at": now,
            }
            plan.users[op.name] = {"name": op.name, **reset}
            update = {"$set": reset}
            plan.user_writes.append(
                (UpdateOne({"name": op.name}, update, upsert=True), op.name, None)
            )
            return Done()
        if isinstance(op, DeleteUser):
            self._user(plan, op.name)
            plan.users[op.name] = None
            plan.user_writes.append((DeleteOne({"name": op.name}), op.name, None))
            return Done()
        if isinstance(op, PutFunction):
            fn = op.function
            if not _key_ok(fn.name):
                raise BadRequest(f"function name {fn.name!r} is not allowed")
            functions = self._user(plan, fn.user)["functions"]
            version = plan.versions[fn.user, fn.name] = plan.versions[fn.user, fn.name] + 1
            fn = msgspec.structs.replace(fn, version=version, updated_at=now)
            functions[fn.name] = _function_doc(fn)
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
            functions = self._user(plan, op.user)["functions"]
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
        if isinstance(op, CreateJob):
            return self._plan_create(plan, index, op.job, now)
        if isinstance(op, DeleteJob):
            if plan.jobs.get(op.id) is None:
                raise NotFound(f"job '{op.id}' not found")
            plan.jobs[op.id] = None
            plan.job_writes.append((DeleteOne({"_id": ObjectId(op.id)}), op.id, index, None))
            return Done()
        return self._plan_transition(plan, index, op, now)

    @staticmethod
    def _user(plan: _Plan, name: str) -> Doc:
        doc = plan.users.get(name)
        if doc is None:
            raise NotFound(f"user '{name}' not found")
        doc.setdefault("functions", {})
        return doc

    def _plan_create(self, plan: _Plan, index: int, job: JobRecord, now: float) -> JobCreated:
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
        functions = self._user(plan, user)["functions"]
        if name not in functions:
            raise NotFound(f"function '{name}' not found for user '{user}'")
        fn = _function(user, name, functions[name])
        if stored is not None:
            return JobCreated(job=_job(stored), function=fn, existing=True)
        # Only the submission is taken from the caller; the job starts its life queued.
        job = JobRecord(
            id=job.id,
            user=job.user,
            function=job.function,
            runtime=fn.runtime,
            args=job.args,
            created_at=job.created_at or now,
            idempotency_key=job.idempotency_key,
            callback=job.callback,
        )
        doc = _job_doc(job)
        plan.jobs[job.id] = doc
        plan.job_writes.append((InsertOne(doc), job.id, index, None))
        return JobCreated(job=job, function=fn)

    def _plan_transition(
        self, plan: _Plan, index: int, op: StartJob | RequeueJob | FinishJob, now: float
    ) -> Changed:
        job_id = op.job.id if isinstance(op, FinishJob) else op.id
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
            allowed = _UNFINISHED
            final = _job_doc(msgspec.structs.replace(op.job, finished_at=op.job.finished_at or now))
            changes = {name: final[name] for name in _FINISH_FIELDS}
            # The TTL counts from when the store saw the finish, whatever the worker's clock said.
            changes.update(logs=op.logs, expire_at=_date(now + self._retention))
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

    async def _write_jobs(self, plan: _Plan) -> None:
        """Write the jobs, then correct the planned results where the database disagrees
        (another writer raced this batch, or a write failed)."""
        writes = [w for w, _, _, _ in plan.job_writes]
        keys = [key for _, key, _, _ in plan.job_writes]
        ordered = len(set(keys)) < len(keys)

        def bulk() -> Doc:
            try:
                return dict(self._jobs.bulk_write(writes, ordered=ordered).bulk_api_result)
            except BulkWriteError as exc:
                return dict(exc.details)

        outcome = await self._run(bulk, write=True)
        failed = {error["index"]: error for error in outcome.get("writeErrors", [])}
        transitions = [
            (key, index, changes)
            for _, key, index, changes in plan.job_writes
            if changes is not None
        ]
        if not failed and outcome.get("nMatched", 0) == len(transitions):
            return
        oids = [ObjectId(key) for key, _, _ in transitions]
        stored = {
            str(d["_id"]): d
            for d in await self._run(
                lambda: list(self._jobs.find({"_id": {"$in": oids}}, _NO_LOGS))
            )
        }
        for key, index, changes in transitions:
            doc = stored.get(key, {})
            if any(doc.get(k) != v for k, v in changes.items() if k != "expire_at"):
                plan.results[index] = Changed(applied=False)
        first_failure = min(failed, default=len(writes))
        for position, (_, key, index, sets) in enumerate(plan.job_writes):
            if position in failed or (ordered and position > first_failure and sets is None):
                reason = failed[position]["errmsg"] if position in failed else "an earlier write"
                plan.results[index] = InternalError(f"job '{key}' not written: {reason}")
