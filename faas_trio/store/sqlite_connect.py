"""Opening a SQLite database for the store: its URL, how durable its commits are
(``FAAS_SQLITE_SYNC``), a connection's pragmas and schema, and how ``sqlite3`` errors are
translated at the store's seam (see :mod:`.sqlite`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.config import ConfigError
from ..core.errors import InternalError, PeerUnavailable
from .sqlite_groups import migrate
from .sqlite_schema import SCHEMA
from .sqlite_schema import migrate as add_function_columns

__all__ = [
    "BUSY_TIMEOUT", "SYNC_MODES", "check_sync", "connect", "sqlite_path", "translate_errors",
]  # fmt: skip

#: ``FAAS_SQLITE_SYNC`` values, and the ``synchronous`` pragma each sets.
SYNC_MODES = {"full": "FULL", "normal": "NORMAL"}

#: How long a statement in a thread waits for a lock held by another process, seconds.
BUSY_TIMEOUT = 5.0


def sqlite_path(url: str) -> str:
    """The file path in ``sqlite:///abs/path.db`` or ``sqlite:relative/path.db``.

    Raises:
        ValueError: not a ``sqlite:`` URL, or it names no file.
    """
    if not url.startswith("sqlite:"):
        raise ValueError(f"{url!r} is not a sqlite: URL")
    rest = url.removeprefix("sqlite:")
    if rest.startswith("//"):
        rest = rest.removeprefix("//")
        if not rest.startswith("/"):
            raise ValueError(f"{url!r}: use sqlite:///abs/path.db or sqlite:relative/path.db")
    if rest in ("", "/"):
        raise ValueError(f"{url!r} names no database file")
    return rest


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn ``sqlite3`` errors into ``PeerUnavailable`` (the database cannot be used now) or
    ``InternalError``, chained."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise PeerUnavailable(f"sqlite store: {action} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise InternalError(f"sqlite store: {action} failed: {exc}") from exc


def check_sync(mode: str) -> str:
    """``mode`` if it is a ``FAAS_SQLITE_SYNC`` value. Raises ``ConfigError`` if not."""
    if mode not in SYNC_MODES:
        raise ConfigError(
            f"FAAS_SQLITE_SYNC={mode!r}: use full (survives a power loss, the default) or "
            "normal (faster; the last commits may be lost if the machine crashes)"
        )
    return mode


def connect(path: str, sync: str, *, for_writes: bool = False) -> sqlite3.Connection:
    """A connection to ``path`` (created with its folder and schema if needed); one
    ``for_writes`` never waits for a lock and never checkpoints (see the module docstring)."""
    with translate_errors(f"opening {path}"):
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PeerUnavailable(f"sqlite store: cannot create a folder for {path}") from exc
        # isolation_level=None: transactions are ours (BEGIN/COMMIT), not the module's.
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {SYNC_MODES[sync]}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(SCHEMA)
            migrate(conn)
            add_function_columns(conn)
            if for_writes:
                conn.execute("PRAGMA busy_timeout = 0")
                conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            conn.close()
            raise
        return conn
