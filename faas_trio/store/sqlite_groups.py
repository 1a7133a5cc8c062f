"""Groups (maps) in SQLite: their table, the batch that creates one, and the reads of its items.

A group is one row of ``groups``; its items are ordinary rows of ``jobs`` carrying
``group_id`` and ``group_index``. Creating a group is one transaction (the group row and every
item with one ``executemany``), so a group exists with all its items or not at all. Counts are
computed from the items (an index on ``(group_id, group_index)``), so they are never out of
step with the jobs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import cast

from ..core.errors import Conflict, NotFound
from ..core.messages import GroupCreated
from ..core.records import GroupCounts, GroupRecord, JobRecord, JobState
from .base import created_group, group_jobs
from .sqlite_schema import (
    FINAL,
    JOB_INSERT,
    JOB_SELECT,
    UNFINISHED,
    add_stored_bytes,
    get_function,
    insert_sql,
    job_from_row,
    job_values,
)

__all__ = [
    "GROUP_SCHEMA",
    "create_group",
    "get_group",
    "group_items",
    "list_groups",
    "migrate",
    "sweep_groups",
]

GROUP_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    function TEXT NOT NULL,
    total INTEGER NOT NULL,
    created_at REAL NOT NULL,
    idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS groups_by_user ON groups (user, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS groups_by_idempotency_key
    ON groups (user, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_group ON jobs (group_id, group_index)
    WHERE group_id IS NOT NULL;
"""

_GROUP_COLUMNS = GroupRecord.__struct_fields__
_GROUP_SELECT = f"SELECT {', '.join(_GROUP_COLUMNS)} FROM groups"
# Items are selected by the (group_id, group_index) index, never by a scan.
_ITEMS = f"{JOB_SELECT} WHERE group_id = ?"


def migrate(conn: sqlite3.Connection) -> None:
    """Add what groups need to a database made before them (columns of ``jobs`` first, then
    the tables and indexes that use them). Idempotent."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    for column, kind in (("group_id", "TEXT"), ("group_index", "INTEGER")):
        if column not in present:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
    conn.executescript(GROUP_SCHEMA)


def _group(conn: sqlite3.Connection, where: str, params: tuple[str, ...]) -> GroupRecord | None:
    row = conn.execute(f"{_GROUP_SELECT} WHERE {where}", params).fetchone()
    return None if row is None else GroupRecord(**dict(row))


def create_group(
    conn: sqlite3.Connection, submitted: GroupRecord, args: Sequence[str], now: float
) -> GroupCreated:
    """Store ``submitted`` and its items in one transaction of ``conn`` (see the module
    docstring), or answer the stored group with its unfinished items."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        created = _create(conn, submitted, args, now)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return created


def _create(
    conn: sqlite3.Connection, submitted: GroupRecord, args: Sequence[str], now: float
) -> GroupCreated:
    stored = _group(conn, "id = ?", (submitted.id,))
    if stored is None and submitted.idempotency_key is not None:
        key = (submitted.user, submitted.idempotency_key)
        stored = _group(conn, "user = ? AND idempotency_key = ?", key)
    if stored is not None and stored.user != submitted.user:
        raise Conflict(f"group id '{submitted.id}' is taken")
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (submitted.user,)).fetchone() is None:
        raise NotFound(f"user '{submitted.user}' not found")
    function = get_function(conn, submitted.user, submitted.function)
    if function is None:
        raise NotFound(f"function '{submitted.function}' not found for user '{submitted.user}'")
    if stored is not None:
        rows = conn.execute(
            f"{_ITEMS} AND state IN {UNFINISHED} ORDER BY group_index", (stored.id,)
        ).fetchall()
        unfinished = [job_from_row(row) for row in rows]
        return GroupCreated(stored, function, existing=True, unfinished=unfinished)
    group = created_group(submitted, now)
    conn.execute(
        insert_sql("INSERT", "groups", _GROUP_COLUMNS),
        [getattr(group, column) for column in _GROUP_COLUMNS],
    )
    rows = [job_values(job) for job in group_jobs(group, args, function)]
    conn.executemany(JOB_INSERT, rows)
    add_stored_bytes(conn, group.user, sum(cast(int, row[-1]) for row in rows))
    return GroupCreated(group, function)


def get_group(conn: sqlite3.Connection, group_id: str) -> tuple[GroupRecord, GroupCounts] | None:
    """The group and its counts, read in the caller's transaction."""
    group = _group(conn, "id = ?", (group_id,))
    if group is None:
        return None
    counts: dict[str, int] = {}
    for state, count in conn.execute(
        "SELECT state, count(*) FROM jobs WHERE group_id = ? GROUP BY state", (group_id,)
    ):
        counts[JobState(state).value] = int(count)
    started, finished = conn.execute(
        "SELECT min(started_at), max(finished_at) FROM jobs WHERE group_id = ?", (group_id,)
    ).fetchone()
    return group, GroupCounts(**counts, started_at=started, finished_at=finished)


def group_items(
    conn: sqlite3.Connection,
    group_id: str,
    offset: int,
    limit: int,
    indices: Sequence[int] | None,
    final_only: bool,
) -> list[JobRecord]:
    """Items of the group in input order (see :meth:`Store.group_items`)."""
    final = f" AND state IN {FINAL}" if final_only else ""
    if indices is not None:
        rows: list[sqlite3.Row] = []
        wanted = sorted(set(indices))
        for start in range(0, len(wanted), 500):  # SQLite's bound on parameters per query
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows += conn.execute(
                f"{_ITEMS} AND group_index IN ({marks}){final} ORDER BY group_index",
                (group_id, *chunk),
            ).fetchall()
    else:
        rows = conn.execute(
            f"{_ITEMS} AND group_index >= ?{final} ORDER BY group_index LIMIT ?",
            (group_id, max(0, offset), max(0, limit)),
        ).fetchall()
    return [job_from_row(row) for row in rows]


def list_groups(conn: sqlite3.Connection, user: str, limit: int) -> list[GroupRecord]:
    rows = conn.execute(
        f"{_GROUP_SELECT} WHERE user = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        (user, max(0, limit)),
    ).fetchall()
    return [GroupRecord(**dict(row)) for row in rows]


def sweep_groups(conn: sqlite3.Connection, created_before: float) -> int:
    """Delete groups created before ``created_before`` none of whose items is left."""
    cursor = conn.execute(
        "DELETE FROM groups WHERE created_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM jobs WHERE jobs.group_id = groups.id)",
        (created_before,),
    )
    return cursor.rowcount
