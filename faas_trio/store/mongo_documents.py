"""The MongoDB documents of the store, and how records map to them.

Layout, close to the old system's::

    users      {name, functions: {f_name: {source, runtime, timeout, memory_mb, version,
                updated_at}}, execution_time_ms, key_hash, created_at, accounted_batches}
    jobs       {_id: ObjectId(job id), u_name, f_name, runtime, args (JSON text), argv (the
                same as a value), status: 0|1 (1 once final), state, result, value, error,
                attempts, worker, cold_start, init_ms, created_at, timestamp (created_at as a
                date), started_at, finished_at, duration_ms, idempotency_key, idem (user and
                key as one string, only with a key), callback, logs, expire_at, last_write
                (the mark of the batch write that last changed it), bytes (what the job holds:
                its user's stored bytes are the sum over its jobs)}
    function_versions  {_id: {user, name}, version}: the last version a function ever had,
                so one deleted and registered again never reuses a version
    accounting {_id: store instance, token, finishes: [[job id, mark], ...]}: the pending
                record of the last batch that finished jobs (see :mod:`.mongo_accounting`)

Indexes (:data:`USER_INDEXES`, :data:`JOB_INDEXES`), each a cost on every insert that must buy
something: ``users.name`` unique; on ``jobs``: ``idem`` unique where present (a repeated
submission is refused by it, which is how the store finds it: one field, not the pair
``(u_name, idempotency_key)``, because a compound unique index is checked by a scan of the
collection on the MongoDB-protocol test server); ``(u_name, created_at)`` for a user's
listing; ``created_at`` only over unfinished jobs (``status: 0``), read at each start; the TTL
index on ``expire_at``, set when a job finishes; ``accounted`` only where set, which only
jobs flagged by earlier versions are. :data:`OBSOLETE_JOB_INDEXES` are the indexes they replace,
dropped at start.

The mapping is pure (no I/O) and lossless: :func:`job_from_doc` gives back the record
:func:`job_doc` was made from, and :func:`function_from_doc` the function given to
:func:`function_doc`. Field lists come from the record types, so a field added to
``JobRecord`` or ``Function`` needs nothing here. Job documents written by the old system (no
``args`` nor ``state``) are read too. Function names holding ``.`` or starting with ``$`` cannot
be keys of the ``functions`` document: :func:`key_ok` says which can.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import msgspec
from bson import ObjectId
from pymongo import ASCENDING, IndexModel

from ..core.records import FINAL_STATES, Function, JobRecord, JobState
from .base import stored_size

__all__ = [
    "FINAL",
    "JOB_INDEXES",
    "NO_LOGS",
    "OBSOLETE_JOB_INDEXES",
    "UNFINISHED",
    "USER_INDEXES",
    "Doc",
    "as_date",
    "function_doc",
    "function_from_doc",
    "idem",
    "job_doc",
    "job_from_doc",
    "key_ok",
    "user_reset",
    "with_sealed",
]

Doc = dict[str, Any]

#: The states a job may still leave, and the final ones, as values of ``jobs.state``.
UNFINISHED = [JobState.QUEUED.value, JobState.RUNNING.value]
FINAL = sorted(s.value for s in FINAL_STATES)
#: The projection that reads a job without its logs, which may be large.
NO_LOGS = {"logs": False}

USER_INDEXES = (IndexModel("name", unique=True),)
JOB_INDEXES = (
    IndexModel("idem", unique=True, partialFilterExpression={"idem": {"$type": "string"}}),
    IndexModel([("u_name", ASCENDING), ("created_at", ASCENDING)]),
    IndexModel("created_at", name="unfinished_created_at", partialFilterExpression={"status": 0}),
    IndexModel("expire_at", expireAfterSeconds=0),
    IndexModel(
        "accounted", name="accounted_flag", partialFilterExpression={"accounted": {"$exists": True}}
    ),
)
#: Names of the job indexes earlier versions made, which :data:`JOB_INDEXES` replace.
OBSOLETE_JOB_INDEXES = ("state_1_created_at_1", "u_name_1_idempotency_key_1", "accounted_1")


def as_date(seconds: float) -> datetime.datetime:
    """Unix ``seconds`` as an aware UTC datetime (a BSON date, which a TTL index needs)."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def key_ok(name: str) -> bool:
    """Whether a function name can be a key of the embedded ``functions`` document."""
    return name != "" and "." not in name and not name.startswith("$") and "\0" not in name


def user_reset(key_hash: str | None, now: float) -> Doc:
    """The fields a ``PutUser`` sets: the user's functions and secrets go, its time starts
    again from zero."""
    return {
        "functions": {},
        "secrets": {},
        "execution_time_ms": 0.0,
        "key_hash": key_hash,
        "created_at": now,
    }


def function_doc(fn: Function) -> Doc:
    """``fn`` as its entry in ``users.functions`` (keyed by its name, under its user)."""
    doc: Doc = msgspec.to_builtins(fn)
    del doc["user"], doc["name"], doc["sealed"]
    return doc


def function_from_doc(user: str, name: str, doc: Doc) -> Function:
    """The function stored as ``doc`` under ``functions.<name>`` of ``user``."""
    return msgspec.convert({**doc, "user": user, "name": name}, Function)


def idem(user: str, key: str) -> str:
    """The ``idem`` field of a job of ``user`` submitted with idempotency ``key``."""
    return json.dumps([user, key])


def job_doc(job: JobRecord) -> Doc:
    """``job`` as a ``jobs`` document, with empty logs and no ``expire_at``; ``bytes`` is
    its :func:`~faas_trio.store.base.stored_size` (what its user's stored bytes sum)."""
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
        timestamp=as_date(job.created_at),
        logs="",
        bytes=stored_size(job),
    )
    if job.idempotency_key is not None:
        doc["idem"] = idem(job.user, job.idempotency_key)
    del doc["id"], doc["user"], doc["function"]
    return doc


def job_from_doc(doc: Doc) -> JobRecord:
    """The job a ``jobs`` document holds (its logs and extra fields are ignored)."""
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


def with_sealed(fn: Function, user: Doc) -> Function:
    """``fn`` with the sealed values of the secrets it names, from its ``user`` document."""
    if not fn.secrets:
        return fn
    stored = user.get("secrets") or {}
    return msgspec.structs.replace(
        fn, sealed={name: stored[name] for name in fn.secrets if name in stored}
    )
