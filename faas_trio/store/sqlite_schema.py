"""The SQLite tables of the store, and how records map to their rows.

Column lists come from the record types, so a field added to ``JobRecord`` or ``Function``
needs only a column here.
"""

from __future__ import annotations

import sqlite3

import msgspec

from ..core.records import FINAL_STATES, Function, JobRecord, JobState, Runtime
from .base import stored_size

__all__ = [
    "FINAL",
    "FUNCTION_COLUMNS",
    "FUNCTION_SELECT",
    "JOB_COLUMNS",
    "JOB_INSERT",
    "JOB_SELECT",
    "SCHEMA",
    "UNFINISHED",
    "add_stored_bytes",
    "column_value",
    "function_from_row",
    "get_function",
    "get_job",
    "insert_sql",
    "function_values",
    "job_from_row",
    "job_values",
    "migrate",
    "sealed_secrets",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    key_hash TEXT,
    execution_time_ms REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS functions (
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    runtime TEXT NOT NULL,
    timeout REAL NOT NULL,
    memory_mb INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    requirements TEXT NOT NULL DEFAULT '[]',
    preload TEXT NOT NULL DEFAULT 'null',
    env TEXT NOT NULL DEFAULT '{}',
    secrets TEXT NOT NULL DEFAULT '[]',
    build TEXT NOT NULL DEFAULT 'null',
    PRIMARY KEY (user, name)
);
CREATE TABLE IF NOT EXISTS secrets (
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    PRIMARY KEY (user, name)
);
CREATE TABLE IF NOT EXISTS function_versions (
    user TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (user, name)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    function TEXT NOT NULL,
    runtime TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    value TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    worker TEXT,
    cold_start INTEGER,
    init_ms REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    duration_ms REAL,
    idempotency_key TEXT,
    callback TEXT,
    logs TEXT NOT NULL DEFAULT '',
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key
    ON jobs (user, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""

JOB_COLUMNS = JobRecord.__struct_fields__
JOB_SELECT = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs"
#: Inserts a job: its record's columns, then its ``bytes`` (:func:`job_values`).
JOB_INSERT = (
    f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}, bytes)"
    f" VALUES ({', '.join('?' * (len(JOB_COLUMNS) + 1))})"
)
#: Every field but ``sealed``, which is never stored with the function.
FUNCTION_COLUMNS = tuple(f for f in Function.__struct_fields__ if f != "sealed")
#: Columns holding a field as its JSON text.
_JSON_COLUMNS = ("requirements", "preload", "env", "secrets", "build")
#: Added after the first release: (column, declaration) for databases made before.
_ADDED_COLUMNS = (
    ("requirements", "TEXT NOT NULL DEFAULT '[]'"),
    ("preload", "TEXT NOT NULL DEFAULT 'null'"),
    ("env", "TEXT NOT NULL DEFAULT '{}'"),
    ("secrets", "TEXT NOT NULL DEFAULT '[]'"),
    ("build", "TEXT NOT NULL DEFAULT 'null'"),
)
#: The same for the other tables: (table, column, declaration). A job stored before ``bytes``
#: counts 0 towards its user's stored bytes (the cap counts what was stored since).
_ADDED_ELSEWHERE = (
    ("users", "stored_bytes", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "bytes", "INTEGER NOT NULL DEFAULT 0"),
)
FUNCTION_SELECT = f"SELECT {', '.join(FUNCTION_COLUMNS)} FROM functions"
#: The states a job may still leave, and the final ones, as SQL lists.
UNFINISHED = "('queued', 'running')"
FINAL = "(" + ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES)) + ")"


def get_function(conn: sqlite3.Connection, user: str, name: str) -> Function | None:
    row = conn.execute(f"{FUNCTION_SELECT} WHERE user = ? AND name = ?", (user, name)).fetchone()
    return None if row is None else function_from_row(row)


def get_job(conn: sqlite3.Connection, where: str, params: tuple[str, ...]) -> JobRecord | None:
    row = conn.execute(f"{JOB_SELECT} WHERE {where}", params).fetchone()
    return None if row is None else job_from_row(row)


def insert_sql(verb: str, table: str, columns: tuple[str, ...]) -> str:
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a database made by an earlier version lacks (their defaults are what
    a function registered before them means: no packages, no env, no secrets)."""
    added = [("functions", c, d) for c, d in _ADDED_COLUMNS] + list(_ADDED_ELSEWHERE)
    have: dict[str, set[str]] = {}
    for table, column, declaration in added:
        if table not in have:
            have[table] = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have[table]:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def job_values(job: JobRecord) -> list[object]:
    """``job``'s row for :data:`JOB_INSERT`."""
    return [column_value(getattr(job, column)) for column in JOB_COLUMNS] + [stored_size(job)]


def add_stored_bytes(conn: sqlite3.Connection, user: str, count: int) -> None:
    """Add ``count`` (negative: take away) to the bytes ``user``'s jobs hold."""
    if count:
        conn.execute(
            "UPDATE users SET stored_bytes = max(0, stored_bytes + ?) WHERE name = ?",
            (count, user),
        )


def column_value(value: object) -> object:
    return value.value if isinstance(value, JobState | Runtime) else value


def function_values(function: Function) -> list[object]:
    """``function``'s row, in :data:`FUNCTION_COLUMNS` order."""
    return [
        msgspec.json.encode(getattr(function, c)).decode()
        if c in _JSON_COLUMNS
        else column_value(getattr(function, c))
        for c in FUNCTION_COLUMNS
    ]


def function_from_row(row: sqlite3.Row) -> Function:
    fields = dict(row)
    for column in _JSON_COLUMNS:
        fields[column] = msgspec.json.decode(fields[column])
    return msgspec.convert(fields, Function)


def sealed_secrets(conn: sqlite3.Connection, function: Function) -> Function:
    """``function`` with the sealed values of the secrets it names that exist."""
    if not function.secrets:
        return function
    marks = ", ".join("?" * len(function.secrets))
    rows = conn.execute(
        f"SELECT name, sealed FROM secrets WHERE user = ? AND name IN ({marks})",
        (function.user, *function.secrets),
    ).fetchall()
    return msgspec.structs.replace(function, sealed={r["name"]: r["sealed"] for r in rows})


def job_from_row(row: sqlite3.Row) -> JobRecord:
    fields = dict(row)
    fields["runtime"] = Runtime(fields["runtime"])
    fields["state"] = JobState(fields["state"])
    if fields["cold_start"] is not None:
        fields["cold_start"] = bool(fields["cold_start"])
    return JobRecord(**fields)
