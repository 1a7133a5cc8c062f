"""Exact accounting of execution time on MongoDB, without a multi-document transaction.

A finish writes the job's final state (``jobs``), then adds its time to its user (``users``):
two writes, and a crash may fall between them. So, per batch of writes:

1. Before the jobs' writes, the batch's *pending record* is written to ``accounting``: one
   document per store instance (:func:`pending_write`), overwritten by every batch that
   finishes jobs, holding the batch's token (a random 63-bit integer) and, for each finish
   that adds time, the job's id and the mark its write sets in ``last_write`` (see
   :mod:`.mongo_jobs`). A final job never changes again, so the mark it holds says whether
   that finish applied.
2. The users' updates (:func:`increment`) add the batch's time only if the token is not among
   the user's ``accounted_batches`` (the last :data:`ACCOUNTED_KEEP` it counted), which the
   same update pushes: applying one twice cannot count it twice.

After a crash (and after a batch that failed part way) the store heals
(:func:`pending_increments`): for every pending record, the finishes whose job holds their mark
are counted again through (2), which adds only what was not counted yet. The record is
overwritten only once its batch's users' updates were acknowledged, so the token of the record
is the newest one of every user it names: a few kept tokens suffice.

On the MongoDB-protocol test server this costs one small document written per batch, where
the per-job flag it replaces (``accounted: <token>`` on each finished job, removed by the next
batch) cost a second update of every job, as much as its finish. Jobs still flagged by those
earlier versions (``accounted`` set: a token, or ``false`` with the job's id kept by the user
in ``accounted_jobs``) are counted by :func:`flagged_increments`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from bson import ObjectId
from pymongo import UpdateOne

from .mongo_documents import Doc

__all__ = [
    "ACCOUNTED_KEEP",
    "PENDING_FIELDS",
    "flagged_increments",
    "increment",
    "new_token",
    "pending_increments",
    "pending_write",
]

#: How many of its last accounted batch tokens a user keeps. A heal replays only the newest
#: pending record, whose token is the newest of each user it names; a few spare ones cost
#: little (the whole list is copied on every update on the test server, so not 64).
ACCOUNTED_KEEP = 8
#: How many job ids a user of an earlier version kept (see :func:`flagged_increments`).
_LEGACY_KEEP = 1024
#: The job fields a heal reads.
PENDING_FIELDS = {"u_name": True, "duration_ms": True, "last_write": True}


def new_token() -> int:
    """A batch's accounting token: random, so two stores (or restarts) never share one."""
    return secrets.randbits(63)


def pending_write(
    instance: str, token: int, finishes: Sequence[tuple[ObjectId, ObjectId]]
) -> UpdateOne:
    """The write of the pending record of the batch ``token`` of store ``instance``:
    ``finishes`` are (job id, mark of its finish's write) of the finishes that add time."""
    pending = {"token": token, "finishes": [[oid, mark] for oid, mark in finishes]}
    return UpdateOne({"_id": instance}, {"$set": pending}, upsert=True)


def pending_increments(pending: list[Doc], jobs: list[Doc]) -> list[UpdateOne]:
    """For the ``pending`` records and the ``jobs`` they name (read with
    :data:`PENDING_FIELDS`), the users' updates counting the finishes that applied (each
    conditional on its batch's token)."""
    by_id = {doc["_id"]: doc for doc in jobs}
    per_batch: dict[tuple[str, int], float] = {}
    for record in pending:
        for oid, mark in record.get("finishes", []):
            job = by_id.get(oid)
            if job is None or job.get("last_write") != mark:
                continue  # deleted since, or its finish did not apply
            key = (job["u_name"], int(record["token"]))
            per_batch[key] = per_batch.get(key, 0.0) + float(job.get("duration_ms") or 0.0)
    return [increment(user, spent, token) for (user, token), spent in per_batch.items()]


def increment(user: str, spent: float, token: int) -> UpdateOne:
    """Add ``spent`` ms to ``user`` unless the batch ``token`` was counted already."""
    return UpdateOne(
        {"name": user, "accounted_batches": {"$ne": token}},
        {
            "$inc": {"execution_time_ms": spent},
            "$push": {"accounted_batches": {"$each": [token], "$slice": -ACCOUNTED_KEEP}},
        },
    )


def _legacy_increment(user: str, spent: float, oid: ObjectId) -> UpdateOne:
    """Add ``spent`` ms to ``user`` unless its earlier version counted the job ``oid``."""
    return UpdateOne(
        {"name": user, "accounted_jobs": {"$ne": oid}},
        {
            "$inc": {"execution_time_ms": spent},
            "$push": {"accounted_jobs": {"$each": [oid], "$slice": -_LEGACY_KEEP}},
        },
    )


def flagged_increments(unaccounted: list[Doc]) -> list[UpdateOne]:
    """For final jobs an earlier version left flagged (their ``_id``, ``u_name``,
    ``duration_ms``, ``accounted``), the updates adding their time to their users unless
    counted already: one per user and batch token, or one per job flagged ``false``."""
    per_batch: dict[tuple[str, int], float] = {}
    updates: list[UpdateOne] = []
    for doc in unaccounted:
        spent = float(doc.get("duration_ms") or 0.0)
        token = doc.get("accounted")
        if isinstance(token, int) and not isinstance(token, bool):
            key = (doc["u_name"], token)
            per_batch[key] = per_batch.get(key, 0.0) + spent
        else:
            updates.append(_legacy_increment(doc["u_name"], spent, doc["_id"]))
    updates += [increment(user, spent, token) for (user, token), spent in per_batch.items()]
    return updates
