"""The in-memory store (``DB_URL=memory:``): the SQLite backend on a private in-memory database.

Nothing survives the process: it is for tests, demos and throw-away platforms. It is not a
second implementation of the store contract but the SQLite one itself (same schema, same write
ops, same checks), so it cannot drift from it; the contract suite in ``tests/store`` runs
against it as a backend of its own all the same.

An in-memory database lives in one connection, so reads and writes share it and are
serialized on it: every call runs in a worker thread, one at a time (a file database instead
writes in the event loop and reads on a second connection, see :mod:`.sqlite`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import trio

from ..core.messages import GroupCreated
from ..core.records import GroupRecord
from .base import WriteOp, WriteResult
from .sqlite import SqliteStore
from .sqlite_connect import connect
from .sqlite_groups import create_group
from .sqlite_writes import apply_batch

__all__ = ["MEMORY_URL", "MemoryStore"]

#: The ``DB_URL`` that names it.
MEMORY_URL = "memory:"


class MemoryStore(SqliteStore):
    """A :class:`~faas_trio.store.base.Store` in memory, empty when opened. Made by
    :meth:`open_memory`; as :class:`~faas_trio.store.sqlite.SqliteStore` otherwise.

    Cancellation (every method): a cancel while waiting for the connection abandons the call;
    a call that has started runs to completion in its worker thread first.
    """

    @classmethod
    async def open_memory(cls) -> MemoryStore:
        """A new, empty in-memory database, private to this store.

        Cancellation: not cancellable while the schema is created (a worker thread).
        """
        conn = await trio.to_thread.run_sync(connect, ":memory:", "normal")
        return cls(conn, conn, ":memory:")

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """As :meth:`SqliteStore.apply`, in a worker thread on the one connection."""
        batch = list(ops)
        return await self._run("write", lambda conn: apply_batch(conn, batch, time.time()))

    async def create_group(self, group: GroupRecord, args: Sequence[str]) -> GroupCreated:
        """As :meth:`SqliteStore.create_group`, in a worker thread on the one connection."""
        return await self._run(
            "create_group", lambda conn: create_group(conn, group, args, time.time())
        )
