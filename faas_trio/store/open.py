"""Choosing a store backend by URL: ``open_store(url)`` is the one way dbmanager gets a Store.

Every backend has the same shape: an ``async`` classmethod ``open(url)`` that returns a
connected store, and an idempotent ``aclose()``. The MongoDB backend (and so ``pymongo``) is
imported only when a ``mongodb:`` URL asks for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..core.config import ConfigError
from .base import Store
from .memory import MEMORY_URL, MemoryStore
from .sqlite import SqliteStore

__all__ = ["check_store_url", "open_store"]

_MONGO_SCHEMES = ("mongodb://", "mongodb+srv://")
# The longest a close may delay the exit of a cancelled block, seconds.
_CLOSE_GRACE = 10.0


def check_store_url(url: str) -> str:
    """The backend ``url`` names: ``"sqlite"``, ``"mongodb"`` or ``"memory"``.

    Raises:
        ConfigError: the URL names no supported backend (a ``ValueError``).
    """
    if url.startswith("sqlite:"):
        return "sqlite"
    if url == MEMORY_URL:
        return "memory"
    if url.startswith(_MONGO_SCHEMES):
        return "mongodb"
    scheme = url.partition(":")[0] if ":" in url else url
    raise ConfigError(
        f"DB_URL: unsupported store URL scheme {scheme!r}: use sqlite:///abs/path.db, "
        "sqlite:relative/path.db, mongodb://host:port, mongodb+srv://host or memory: (nothing "
        "kept after exit)"
    )


async def _open(url: str, retention: float | None, sqlite_sync: str) -> Store:
    backend = check_store_url(url)
    if backend == "sqlite":
        return await SqliteStore.open(url, sync=sqlite_sync)
    if backend == "memory":
        return await MemoryStore.open_memory()
    # Imported here so that pymongo loads only for a mongodb: URL.
    from .mongo import MongoStore

    return await MongoStore.open(url, retention=retention)


@asynccontextmanager
async def open_store(
    url: str, *, retention: float | None = None, sqlite_sync: str = "full"
) -> AsyncIterator[Store]:
    """Open the store named by ``url`` and close it on exit. ``retention`` (seconds a finished
    job is kept) is for a store that expires jobs itself (MongoDB's TTL index).

    ``sqlite:///abs/path.db`` or ``sqlite:relative/path.db`` opens a
    :class:`~faas_trio.store.sqlite.SqliteStore` (creating the file and its folder) whose
    commits are as durable as ``sqlite_sync`` says (``full`` or ``normal``);
    ``mongodb://…`` or ``mongodb+srv://…`` a ``MongoStore`` (its write concern is the URL's);
    ``memory:`` a :class:`~faas_trio.store.memory.MemoryStore`, empty, gone when closed.

    Raises:
        ConfigError: the URL names no supported backend (a ``ValueError``).
        PeerUnavailable: the database cannot be opened or reached.

    Cancellation: opening waits on the database; the store is closed on exit even when the
    block is cancelled (shielded, for at most 10 s).
    """
    store = await _open(url, retention, sqlite_sync)
    try:
        yield store
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_GRACE):
            await store.aclose()
