"""An admin op that arrives alone, answered by its write: no read before it.

An op alone in its run (the usual case: admin ops are rare) whose outcome the write itself
can tell goes out as one conditional write, and its matched, upserted or deleted count gives
the same answer the planned path of :mod:`.mongo_writes` would give:

- ``PutUser``: an upsert on the unique ``name``; with ``create_only`` it only sets the
  document on insert, so a match (or a duplicate-key error from a racing insert) is the
  ``Conflict``.
- ``PutSecret``: ``$set`` on the user; no match is "user not found".
- ``DeleteFunction`` / ``DeleteSecret``: ``$unset`` where the entry exists; only when nothing
  matched is the user read, to say which of the two is missing (the error path alone pays).
- ``DeleteJob``: ``delete_one`` by id; nothing deleted is "job not found".

Kept on the planned path (read first), and why:

- ``PutFunction``: its version number is computed from the versions stored before it.
- ``DeleteUser``: its jobs are deleted before the user, so that a failure between the two
  leaves a user without jobs, never jobs without a user (which a name registered again would
  inherit); the deletion of the jobs must not run for a user that does not exist, so the
  user is read first.
- ``SetBuild`` and names that cannot be keys (:func:`~.mongo_documents.key_ok`): the checks
  need the stored entry.

Runs in a worker thread (the store's ``run``): plain pymongo calls.
"""

from __future__ import annotations

from typing import TypeGuard

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from ..core.errors import Conflict, NotFound
from ..core.ids import is_job_id
from ..core.messages import DeleteFunction, DeleteJob, DeleteSecret, Done, PutSecret, PutUser
from .base import WriteResult
from .mongo_documents import Doc, key_ok, user_reset
from .mongo_writes import AdminOp

__all__ = ["DirectOp", "is_direct", "write_direct"]

#: The ops :func:`write_direct` answers.
DirectOp = PutUser | PutSecret | DeleteFunction | DeleteSecret | DeleteJob


def is_direct(op: AdminOp) -> TypeGuard[DirectOp]:
    """Whether ``op``'s outcome can be told from its write alone."""
    if isinstance(op, PutUser | DeleteJob):
        return True
    if isinstance(op, PutSecret | DeleteSecret | DeleteFunction):
        return key_ok(op.name)
    return False


def write_direct(
    users: Collection[Doc], jobs: Collection[Doc], op: DirectOp, now: float
) -> WriteResult:
    """Apply ``op`` with one write (one more read only to word a ``NotFound``); its result,
    or the ``FaasError`` it fails with, returned."""
    try:
        return _write(users, jobs, op, now)
    except (Conflict, NotFound) as exc:
        return exc


def _write(users: Collection[Doc], jobs: Collection[Doc], op: DirectOp, now: float) -> Done:
    if isinstance(op, PutUser):
        reset = user_reset(op.key_hash, now)
        if not op.create_only:
            users.update_one({"name": op.name}, {"$set": reset}, upsert=True)
            return Done()
        try:
            outcome = users.update_one({"name": op.name}, {"$setOnInsert": reset}, upsert=True)
        except DuplicateKeyError:  # inserted meanwhile by another writer
            outcome = None
        if outcome is None or outcome.upserted_id is None:
            raise Conflict(f"user '{op.name}' exists already")
        return Done()
    if isinstance(op, DeleteJob):
        if not is_job_id(op.id) or jobs.delete_one({"_id": ObjectId(op.id)}).deleted_count == 0:
            raise NotFound(f"job '{op.id}' not found")
        return Done()
    if isinstance(op, PutSecret):
        update = {"$set": {f"secrets.{op.name}": op.sealed}}
        if users.update_one({"name": op.user}, update).matched_count == 0:
            raise NotFound(f"user '{op.user}' not found")
        return Done()
    field = "functions" if isinstance(op, DeleteFunction) else "secrets"
    path = f"{field}.{op.name}"
    where = {"name": op.user, path: {"$exists": True}}
    if users.update_one(where, {"$unset": {path: ""}}).matched_count == 1:
        return Done()
    if users.find_one({"name": op.user}, {"_id": True}) is None:
        raise NotFound(f"user '{op.user}' not found")
    raise NotFound(f"{field[:-1]} '{op.name}' not found for user '{op.user}'")
