"""The SQLite tables of the store, and how records map to their rows.

Column lists come from the record types, so a field added to ``JobRecord`` or ``Function``
needs only a column here.
"""

from __future__ import annotations

import sqlite3

from ..core.records import FINAL_STATES, Function, JobRecord, JobState, Runtime

__all__ = [
    "FINAL",
    "FUNCTION_COLUMNS",
    "FUNCTION_SELECT",
    "JOB_COLUMNS",
    "JOB_SELECT",
    "SCHEMA",
    "UNFINISHED",
    "column_value",
    "function_from_row",
    "get_function",
    "get_job",
    "insert_sql",
    "job_from_row",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    key_hash TEXT,
    execution_time_ms REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
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
    logs TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key
    ON jobs (user, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""

JOB_COLUMNS = JobRecord.__struct_fields__
JOB_SELECT = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs"
FUNCTION_COLUMNS = Function.__struct_fields__
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


def column_value(value: object) -> object:
    return value.value if isinstance(value, JobState | Runtime) else value


def function_from_row(row: sqlite3.Row) -> Function:
    fields = dict(row)
    fields["runtime"] = Runtime(fields["runtime"])
    return Function(**fields)


def job_from_row(row: sqlite3.Row) -> JobRecord:
    fields = dict(row)
    fields["runtime"] = Runtime(fields["runtime"])
    fields["state"] = JobState(fields["state"])
    if fields["cold_start"] is not None:
        fields["cold_start"] = bool(fields["cold_start"])
    return JobRecord(**fields)
