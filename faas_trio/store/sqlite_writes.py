"""The store's writes as SQL: a batch of ops applied in one SQLite transaction.

Runs in the store's worker thread, on its connection; ``sqlite3.Error`` passes through to the
caller (:class:`~faas_trio.store.sqlite.SqliteStore`), which translates it.
"""

from __future__ import annotations

import sqlite3

import msgspec

from ..core.errors import BadRequest, Conflict, FaasError, NotFound
from ..core.messages import (
    Changed,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    Done,
    FinishJob,
    FunctionReply,
    JobCreated,
    PutFunction,
    PutSecret,
    PutUser,
    RequeueJob,
    SetBuild,
    StartJob,
)
from ..core.records import FINAL_STATES, Function, JobRecord, Submission
from .base import WriteOp, WriteResult, created_job, stored_function, stored_size, text_size
from .crash import crash_point
from .sqlite_schema import (
    FINAL,
    FUNCTION_COLUMNS,
    JOB_INSERT,
    UNFINISHED,
    add_stored_bytes,
    column_value,
    function_values,
    get_function,
    get_job,
    insert_sql,
    job_values,
    sealed_secrets,
)

__all__ = ["apply_batch", "sweep_jobs"]

# Fields FinishJob writes: the outcome, never the submission.
_FINISH_COLUMNS = (
    "state", "result", "value", "error", "attempts", "worker", "cold_start", "init_ms",
    "started_at", "finished_at", "duration_ms",
)  # fmt: skip


def apply_batch(conn: sqlite3.Connection, ops: list[WriteOp], now: float) -> list[WriteResult]:
    """Apply ``ops`` in order in one transaction (``now`` stamps what they create) and
    return one result per op. Each op runs under a savepoint: one that fails its checks
    returns its ``FaasError`` and leaves no trace. A ``sqlite3.Error`` rolls back the whole
    batch and propagates."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        results = [_apply_one(conn, op, now) for op in ops]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back by itself on some errors
            conn.execute("ROLLBACK")
        raise
    return results


def _apply_one(conn: sqlite3.Connection, op: WriteOp, now: float) -> WriteResult:
    conn.execute("SAVEPOINT op")
    try:
        result = _write(conn, op, now)
    except FaasError as exc:
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return exc
    conn.execute("RELEASE op")
    return result


def _write(conn: sqlite3.Connection, op: WriteOp, now: float) -> WriteResult:
    match op:
        case PutUser(name=name, key_hash=key_hash, create_only=create_only):
            exists = conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
            if create_only and exists:
                raise Conflict(f"user '{name}' exists already")
            # A reset: the user's functions and secrets go, its time starts again from zero.
            conn.execute("DELETE FROM functions WHERE user = ?", (name,))
            conn.execute("DELETE FROM secrets WHERE user = ?", (name,))
            conn.execute(
                "INSERT INTO users (name, key_hash, execution_time_ms, created_at)"
                " VALUES (?, ?, 0, ?) ON CONFLICT (name) DO UPDATE SET"
                " key_hash = excluded.key_hash, execution_time_ms = 0,"
                " created_at = excluded.created_at",
                (name, key_hash, now),
            )
            return Done()
        case DeleteUser(name=name):
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"user '{name}' not found")
            # Its jobs (records and logs) go with it: a name registered again starts empty.
            conn.execute("DELETE FROM jobs WHERE user = ?", (name,))
            return Done()
        case PutFunction(function=function):
            return FunctionReply(function=_put_function(conn, function, now))
        case DeleteFunction(user=user, name=name):
            cursor = conn.execute("DELETE FROM functions WHERE user = ? AND name = ?", (user, name))
            if cursor.rowcount == 0:
                raise NotFound(f"function '{name}' not found for user '{user}'")
            return Done()
        case SetBuild(user=user, name=name, version=version, build=build):
            row = conn.execute(
                "SELECT build FROM functions WHERE user = ? AND name = ? AND version = ?",
                (user, name, version),
            ).fetchone()
            if row is None or msgspec.json.decode(row["build"]) is None:
                return Changed(applied=False)
            if msgspec.json.decode(row["build"])["state"] in ("ready", "failed"):
                return Changed(applied=False)
            conn.execute(
                "UPDATE functions SET build = ? WHERE user = ? AND name = ? AND version = ?",
                (msgspec.json.encode(build).decode(), user, name, version),
            )
            return Changed(applied=True)
        case PutSecret(user=user, name=name, sealed=sealed):
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone() is None:
                raise NotFound(f"user '{user}' not found")
            conn.execute(
                "INSERT INTO secrets (user, name, sealed) VALUES (?, ?, ?)"
                " ON CONFLICT (user, name) DO UPDATE SET sealed = excluded.sealed",
                (user, name, sealed),
            )
            return Done()
        case DeleteSecret(user=user, name=name):
            cursor = conn.execute("DELETE FROM secrets WHERE user = ? AND name = ?", (user, name))
            if cursor.rowcount == 0:
                raise NotFound(f"secret '{name}' not found for user '{user}'")
            return Done()
        case CreateJob(submission=job):
            return _create_job(conn, job, now)
        case StartJob(id=job_id, attempt=attempt, worker=worker, started_at=started_at):
            cursor = conn.execute(
                "UPDATE jobs SET state = 'running', attempts = ?, worker = ?, started_at = ?"
                " WHERE id = ? AND state = 'queued'",
                (attempt, worker, started_at, job_id),
            )
            return Changed(applied=cursor.rowcount == 1)
        case RequeueJob(id=job_id, error=error, attempts=attempts):
            cursor = conn.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, started_at = NULL,"
                " error = coalesce(?, error), attempts = coalesce(?, attempts)"
                " WHERE id = ? AND state = 'running'",
                (error, attempts, job_id),
            )
            return Changed(applied=cursor.rowcount == 1)
        case FinishJob(job=job, logs=logs):
            return _finish_job(conn, job, logs, now)
        case DeleteJob(id=job_id):
            row = conn.execute(
                "DELETE FROM jobs WHERE id = ? RETURNING user, bytes", (job_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"job '{job_id}' not found")
            add_stored_bytes(conn, row["user"], -int(row["bytes"]))
            return Done()
    raise BadRequest(f"the store cannot apply {type(op).__name__}")


def _put_function(conn: sqlite3.Connection, function: Function, now: float) -> Function:
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (function.user,)).fetchone() is None:
        raise NotFound(f"user '{function.user}' not found")
    (version,) = conn.execute(
        "INSERT INTO function_versions (user, name, version) VALUES (?, ?, 1)"
        " ON CONFLICT (user, name) DO UPDATE SET version = version + 1 RETURNING version",
        (function.user, function.name),
    ).fetchone()
    stored = stored_function(function, int(version), now)
    conn.execute(
        insert_sql("INSERT OR REPLACE", "functions", FUNCTION_COLUMNS), function_values(stored)
    )
    return stored


def _create_job(conn: sqlite3.Connection, job: Submission, now: float) -> JobCreated:
    stored = get_job(conn, "id = ?", (job.id,))
    if stored is None and job.idempotency_key is not None:
        stored = get_job(conn, "user = ? AND idempotency_key = ?", (job.user, job.idempotency_key))
    if stored is not None:
        if stored.user != job.user:
            raise Conflict(f"job id '{job.id}' is taken")
        function = get_function(conn, stored.user, stored.function)
        if function is None:
            raise NotFound(f"function '{stored.function}' not found for user '{stored.user}'")
        return JobCreated(job=stored, function=sealed_secrets(conn, function), existing=True)
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (job.user,)).fetchone() is None:
        raise NotFound(f"user '{job.user}' not found")
    function = get_function(conn, job.user, job.function)
    if function is None:
        raise NotFound(f"function '{job.function}' not found for user '{job.user}'")
    stored = created_job(job, function, now)
    conn.execute(JOB_INSERT, job_values(stored))
    add_stored_bytes(conn, stored.user, stored_size(stored))
    return JobCreated(job=stored, function=sealed_secrets(conn, function))


def _finish_job(conn: sqlite3.Connection, job: JobRecord, logs: str, now: float) -> Changed:
    if job.state not in FINAL_STATES:
        raise BadRequest(f"FinishJob needs a final state, not '{job.state.value}'")
    values = {column: column_value(getattr(job, column)) for column in _FINISH_COLUMNS}
    if values["finished_at"] is None:
        values["finished_at"] = now
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    # What the finish adds to the job's stored bytes (its arguments were counted at creation).
    added = stored_size(job, logs) - text_size(job.args)
    row = conn.execute(
        f"UPDATE jobs SET {assignments}, logs = :logs, bytes = bytes + :added"
        f" WHERE id = :id AND state IN {UNFINISHED} RETURNING user",
        {**values, "logs": logs, "added": added, "id": job.id},
    ).fetchone()
    if row is None:
        return Changed(applied=False)
    add_stored_bytes(conn, row["user"], added)
    crash_point("finish-before-time")
    if job.duration_ms:
        conn.execute(
            "UPDATE users SET execution_time_ms = execution_time_ms + ? WHERE name = ?",
            (job.duration_ms, row["user"]),
        )
    return Changed(applied=True)


def sweep_jobs(conn: sqlite3.Connection, finished_before: float) -> int:
    """Delete final jobs finished before ``finished_before``, and take their bytes off their
    users' stored bytes, in one transaction; how many."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        freed: dict[str, int] = {}
        rows = conn.execute(
            f"DELETE FROM jobs WHERE state IN {FINAL} AND finished_at < ? RETURNING user, bytes",
            (finished_before,),
        ).fetchall()
        for row in rows:
            freed[row["user"]] = freed.get(row["user"], 0) + int(row["bytes"])
        for user, count in freed.items():
            add_stored_bytes(conn, user, -count)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return len(rows)
