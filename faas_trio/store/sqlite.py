"""The SQLite backend of the store: one database file, two connections.

Writes commit on the *write connection* in the event loop itself: in WAL mode a commit appends
to the log, so a batch of writes costs tens of microseconds plus, with the default
``synchronous=FULL``, one fsync of the log (about 0.2 ms on an idle SSD), less than handing it
to a thread and back (measured with ``NORMAL``: the dbmanager spends a quarter less CPU per
job). ``FULL`` makes a committed batch survive a power loss or a kernel crash: a job id is
answered only once its job is on disk. ``FAAS_SQLITE_SYNC=normal`` (``synchronous=NORMAL``)
skips that fsync: a commit then survives a crash of the process but the last commits may be
lost with the machine. What could block the loop is kept off it: the
write connection never checkpoints (``wal_autocheckpoint = 0``) and never waits for a lock
(``busy_timeout = 0``); the log is checkpointed every :data:`_CHECKPOINT_EVERY` commits on the
*read connection* in a worker thread, and a batch that finds the database locked by another
process is retried there, where it may wait up to :data:`BUSY_TIMEOUT`. Reads (and the sweep)
use the read connection in worker threads (:func:`trio.to_thread.run_sync`), one at a time.
Readers in other processes do not block a commit. Every call to the file (a batch, a read) is
counted by a :class:`~faas_trio.store.monitoring.StoreMonitor` as one round trip.

Function versions outlive the functions: ``function_versions`` remembers the last version
each ``(user, name)`` ever had, so a function deleted (or dropped by a user reset) and then
registered again gets a version it never had before, and nothing keyed on
``(user, name, version)`` (the worker's warm children) can confuse the two.

The tables are in :mod:`.sqlite_schema`, the write ops in :mod:`.sqlite_writes`, how a
connection is opened in :mod:`.sqlite_connect`; they run only inside :meth:`SqliteStore._run`
(and :meth:`SqliteStore.apply`), so ``sqlite3.Error`` never leaves the backend:
:func:`~.sqlite_connect.translate_errors` turns it into
:class:`~faas_trio.core.errors.PeerUnavailable` (the database cannot be used now: locked, disk
full, file unreadable) or :class:`~faas_trio.core.errors.InternalError`, chained.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import trio

from ..core.errors import PeerUnavailable
from ..core.messages import GroupCreated, StoreMetrics
from ..core.records import Function, GroupCounts, GroupRecord, JobRecord, JobState, User
from .base import WriteOp, WriteResult
from .monitoring import StoreMonitor
from .sqlite_connect import (
    BUSY_TIMEOUT,
    SYNC_MODES,
    check_sync,
    connect,
    sqlite_path,
    translate_errors,
)
from .sqlite_groups import create_group, get_group, group_items, list_groups, sweep_groups
from .sqlite_schema import (
    FUNCTION_SELECT,
    JOB_SELECT,
    UNFINISHED,
    function_from_row,
    get_function,
    get_job,
    job_from_row,
    sealed_secrets,
)
from .sqlite_writes import apply_batch, sweep_jobs

__all__ = ["SYNC_MODES", "SqliteStore", "connect", "sqlite_path"]  # the last three re-exported

_T = TypeVar("_T")

#: Commits between two checkpoints of the write-ahead log (SQLite's own default is about
#: every 1,000 pages; a commit here writes a few).
_CHECKPOINT_EVERY = 200


class SqliteStore:
    """A :class:`~faas_trio.store.base.Store` in one SQLite file. Made by :meth:`open`.

    Every method raises ``trio.ClosedResourceError`` once :meth:`aclose` was called.

    Cancellation (every method): a cancel while waiting for the connection abandons the call.
    A batch of writes commits in the event loop, with no await inside, so a cancel cannot cut
    it short; a read (or a batch retried after a lock) that has started runs to completion in
    its worker thread and the cancel is delivered after it.
    """

    def __init__(self, conn: sqlite3.Connection, writer: sqlite3.Connection, path: str) -> None:
        self._monitor = StoreMonitor()
        self._conn: sqlite3.Connection | None = conn
        self._writer: sqlite3.Connection | None = writer
        self._limiter = trio.CapacityLimiter(1)
        self._commits_since_checkpoint = 0
        self.path = path

    @classmethod
    async def open(cls, url: str, *, sync: str = "full") -> SqliteStore:
        """Open (creating if needed, with its folder) the database named by ``url``, its
        commits durable as ``sync`` says (``full`` or ``normal``, see the module docstring).

        Raises:
            ValueError: ``url`` is not a valid ``sqlite:`` URL, or ``sync`` no mode
                (``ConfigError``).
            PeerUnavailable: the file cannot be created or opened.

        Cancellation: not cancellable while the file is being opened (a worker thread).
        """
        path = sqlite_path(url)
        check_sync(sync)

        def connect_both() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            conn = connect(path, sync)
            try:
                return conn, connect(path, sync, for_writes=True)
            except BaseException:
                conn.close()
                raise

        conn, writer = await trio.to_thread.run_sync(connect_both)
        return cls(conn, writer, path)

    async def _run(self, action: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on the connection in a worker thread, alone.

        Cancellation: a cancel while waiting for the connection abandons the call; once the
        call has started it runs to completion (a transaction is never cut short), and the
        cancel is delivered after it.
        """

        def in_thread() -> _T:
            conn = self._conn
            if conn is None:
                raise trio.ClosedResourceError("the store is closed")
            began = time.perf_counter()
            try:
                with translate_errors(action):
                    return work(conn)
            finally:
                self._monitor.observe(action, time.perf_counter() - began)

        return await trio.to_thread.run_sync(in_thread, limiter=self._limiter)

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply ``ops`` in order in one transaction and return one result per op.

        Each op runs under its own savepoint, so an op that fails its checks (its result is
        the ``FaasError``) leaves no trace while the others commit. Raises ``PeerUnavailable``
        or ``InternalError`` when the database itself failed; then nothing was applied.

        Cancellation: a cancel during the occasional log checkpoint before the batch, or while
        a batch retried in a thread waits for the connection, leaves the batch unapplied. The
        batch itself never yields to trio: it commits or rolls back before any cancel lands.
        """
        batch = list(ops)
        if self._commits_since_checkpoint >= _CHECKPOINT_EVERY:
            await self._run("checkpoint", _checkpoint)
            self._commits_since_checkpoint = 0
        writer = self._writer
        if writer is None:
            raise trio.ClosedResourceError("the store is closed")
        self._commits_since_checkpoint += 1
        began = time.perf_counter()
        try:
            with translate_errors("write"):
                return apply_batch(writer, batch, time.time())
        except PeerUnavailable as exc:
            if not _is_locked(exc):
                raise
        finally:
            self._monitor.observe("write", time.perf_counter() - began)
        # Another process holds the write lock: wait for it in a thread, not in the loop.
        return await self._run("write", lambda conn: apply_batch(conn, batch, time.time()))

    async def create_group(self, group: GroupRecord, args: Sequence[str]) -> GroupCreated:
        """Store ``group`` and its items in one transaction (see :mod:`.sqlite_groups`).

        Cancellation: as :meth:`apply`: the transaction never yields to trio.
        """
        writer = self._writer
        if writer is None:
            raise trio.ClosedResourceError("the store is closed")
        try:
            with translate_errors("write"):
                return create_group(writer, group, args, time.time())
        except PeerUnavailable as exc:
            if not _is_locked(exc):
                raise
        return await self._run(
            "create_group", lambda conn: create_group(conn, group, args, time.time())
        )

    async def get_group(self, group_id: str) -> tuple[GroupRecord, GroupCounts] | None:
        def read(conn: sqlite3.Connection) -> tuple[GroupRecord, GroupCounts] | None:
            with _read_transaction(conn):
                return get_group(conn, group_id)

        return await self._run("read", read)

    async def group_items(
        self,
        group_id: str,
        offset: int,
        limit: int,
        indices: Sequence[int] | None,
        final_only: bool,
    ) -> list[JobRecord]:
        def read(conn: sqlite3.Connection) -> list[JobRecord]:
            with _read_transaction(conn):
                return group_items(conn, group_id, offset, limit, indices, final_only)

        return await self._run("read", read)

    async def list_groups(self, user: str, limit: int) -> list[GroupRecord]:
        return await self._run("read", lambda conn: list_groups(conn, user, limit))

    async def get_user(self, name: str) -> User | None:
        row = await self._run("get_user", lambda conn: conn.execute(
            "SELECT name, key_hash, execution_time_ms, created_at FROM users WHERE name = ?",
            (name,),
        ).fetchone())  # fmt: skip
        return None if row is None else User(**dict(row))

    async def get_function(self, user: str, name: str) -> Function | None:
        return await self._run("get_function", lambda conn: get_function(conn, user, name))

    async def list_functions(self, user: str) -> list[Function]:
        """The user's functions by name; empty for an unknown user."""
        rows = await self._run("list_functions", lambda conn: conn.execute(
            f"{FUNCTION_SELECT} WHERE user = ? ORDER BY name", (user,)
        ).fetchall())  # fmt: skip
        return [function_from_row(row) for row in rows]

    async def list_secrets(self, user: str) -> list[str] | None:
        """The names of the user's secrets, sorted; None for an unknown user."""

        def read(conn: sqlite3.Connection) -> list[str] | None:
            with _read_transaction(conn):
                if conn.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone() is None:
                    return None
                rows = conn.execute(
                    "SELECT name FROM secrets WHERE user = ? ORDER BY name", (user,)
                ).fetchall()
            return [str(row["name"]) for row in rows]

        return await self._run("list_secrets", read)

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._run("get_job", lambda conn: get_job(conn, "id = ?", (job_id,)))

    async def get_logs(self, job_id: str) -> str | None:
        """The job's logs ("" until it finishes), or None for an unknown job."""
        row = await self._run("get_logs", lambda conn: conn.execute(
            "SELECT logs FROM jobs WHERE id = ?", (job_id,)
        ).fetchone())  # fmt: skip
        return None if row is None else str(row["logs"])

    async def list_jobs(self, user: str, state: JobState | None, limit: int) -> list[JobRecord]:
        """The user's jobs (in ``state`` if given), newest first, at most ``limit``."""
        where, params = "user = ?", [user]
        if state is not None:
            where, params = "user = ? AND state = ?", [user, state.value]
        sql = f"{JOB_SELECT} WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = await self._run(
            "list_jobs", lambda conn: conn.execute(sql, (*params, max(limit, 0))).fetchall()
        )
        return [job_from_row(row) for row in rows]

    async def unfinished_jobs(self) -> tuple[list[JobRecord], list[Function]]:
        """Queued and running jobs, oldest first, and the functions they call (those that
        still exist), read in one transaction."""

        def read(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            with _read_transaction(conn):
                jobs = conn.execute(
                    f"{JOB_SELECT} WHERE state IN {UNFINISHED} ORDER BY created_at, id"
                ).fetchall()
                functions = conn.execute(
                    f"{FUNCTION_SELECT} AS f WHERE EXISTS (SELECT 1 FROM jobs AS j WHERE"
                    f" j.user = f.user AND j.function = f.name AND j.state IN {UNFINISHED})"
                    " ORDER BY user, name"
                ).fetchall()
                return jobs, [sealed_secrets(conn, function_from_row(row)) for row in functions]

        jobs, functions = await self._run("unfinished_jobs", read)
        return [job_from_row(row) for row in jobs], functions

    async def sweep(self, finished_before: float) -> int:
        """Delete final jobs (and their logs) finished before ``finished_before``; how many."""

        def delete(conn: sqlite3.Connection) -> int:
            removed = sweep_jobs(conn, finished_before)
            sweep_groups(conn, finished_before)
            return removed

        return await self._run("sweep", delete)

    async def stored_bytes(self, user: str) -> int:
        """The bytes ``user``'s jobs hold (a counter its writes keep); 0 for no such user."""
        row = await self._run("get_user", lambda conn: conn.execute(
            "SELECT stored_bytes FROM users WHERE name = ?", (user,)
        ).fetchone())  # fmt: skip
        return 0 if row is None else int(row["stored_bytes"])

    def metrics(self) -> StoreMetrics:
        """The calls to the file so far (each one round trip), by store operation."""
        return self._monitor.snapshot()

    async def aclose(self) -> None:
        """Close the connection once the call in progress (if any) is done. Idempotent.

        Cancellation: shielded for at most a few seconds, so a cancel still closes the file.
        """
        with trio.CancelScope(shield=True), trio.move_on_after(BUSY_TIMEOUT + 1.0):
            await trio.to_thread.run_sync(self._close, limiter=self._limiter)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        writer, self._writer = self._writer, None
        for each in (writer, conn):
            if each is not None:
                with translate_errors("close"):
                    each.close()


def _checkpoint(conn: sqlite3.Connection) -> None:
    # PASSIVE: copies what it can without waiting for, or blocking, the writer.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _is_locked(error: PeerUnavailable) -> bool:
    cause = error.__cause__
    return isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)


@contextmanager
def _read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
