"""Groups (maps) in MongoDB: the ``groups`` collection, creating a group, reading its items.

Layout::

    groups  {_id: group id, user, function, total, created_at, idempotency_key, expire_at}
    jobs    items are ordinary job documents with ``group_id`` and ``group_index``

Indexes (:data:`GROUP_INDEXES`, :data:`ITEM_INDEXES`): ``groups (user, created_at)``;
``groups (user, idempotency_key)`` unique where the key is a string; a TTL index on
``groups.expire_at`` (the group's creation plus the retention plus a day, so a group outlives
items that finish on the day it was made); ``jobs (group_id, group_index)`` where the group is
a string.

Without a replica set there is no transaction across the two collections, so a group is
written group document first, then its items (``insert_many``, unordered). A crash between
the two leaves a group with fewer items than ``total``; the retry of the submission (the
jqmanager resends it until answered; a client resends it with its idempotency key) finds the
group and inserts the missing items, ignoring those already there. Every function here blocks
(pymongo); :class:`~faas_trio.store.mongo.MongoStore` runs them in its worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..core.errors import Conflict, NotFound
from ..core.messages import GroupCreated
from ..core.records import Function, GroupCounts, GroupRecord, JobRecord, JobState
from .base import created_group, group_jobs
from .mongo_documents import (
    FINAL,
    NO_LOGS,
    UNFINISHED,
    Doc,
    as_date,
    function_from_doc,
    job_doc,
    job_from_doc,
    key_ok,
)

__all__ = ["GROUP_INDEXES", "ITEM_INDEXES", "MongoGroups"]

GROUP_INDEXES = (
    IndexModel([("user", ASCENDING), ("created_at", ASCENDING)]),
    IndexModel(
        [("user", ASCENDING), ("idempotency_key", ASCENDING)],
        unique=True,
        partialFilterExpression={"idempotency_key": {"$type": "string"}},
    ),
    IndexModel("expire_at", expireAfterSeconds=0),
)
ITEM_INDEXES = (
    IndexModel(
        [("group_id", ASCENDING), ("group_index", ASCENDING)],
        partialFilterExpression={"group_id": {"$type": "string"}},
    ),
)
_DUPLICATE_KEY = 11000
_GROUP_FIELDS = GroupRecord.__struct_fields__


def _group_from_doc(doc: Doc) -> GroupRecord:
    return msgspec.convert({**doc, "id": str(doc["_id"])}, GroupRecord)


class MongoGroups:
    """Group reads and writes over the store's collections (blocking calls)."""

    def __init__(
        self,
        users: Collection[Doc],
        jobs: Collection[Doc],
        groups: Collection[Doc],
        retention: float,
    ) -> None:
        self._users = users
        self._jobs = jobs
        self._groups = groups
        self._retention = retention

    @property
    def collection(self) -> Collection[Doc]:
        """The ``groups`` collection."""
        return self._groups

    def create(self, submitted: GroupRecord, args: Sequence[str], now: float) -> GroupCreated:
        """Store ``submitted`` and its items (see the module docstring), or answer the stored
        group (completed if it was cut short) with its unfinished items."""
        stored = self._find_group(submitted)
        if stored is not None and stored.user != submitted.user:
            raise Conflict(f"group id '{submitted.id}' is taken")
        function = self._function(submitted.user, submitted.function)
        if stored is None:
            group = created_group(submitted, now)
            doc: Doc = {field: getattr(group, field) for field in _GROUP_FIELDS if field != "id"}
            expire = group.created_at + self._retention + 86400.0
            doc.update(_id=group.id, expire_at=as_date(expire))
            try:
                self._groups.insert_one(doc)
            except DuplicateKeyError:
                stored = self._find_group(submitted)  # a concurrent retry came first
                if stored is None:
                    raise
            else:
                self._insert_items(group_jobs(group, args, function))
                return GroupCreated(group, function)
        present = self._jobs.count_documents({"group_id": stored.id})
        if present < stored.total and len(args) == stored.total:
            self._insert_items(group_jobs(stored, args, function))
        docs = self._jobs.find(
            {"group_id": stored.id, "state": {"$in": UNFINISHED}},
            NO_LOGS,
            sort=[("group_index", ASCENDING)],
        )
        unfinished = [job_from_doc(d) for d in docs]
        return GroupCreated(stored, function, existing=True, unfinished=unfinished)

    def _find_group(self, submitted: GroupRecord) -> GroupRecord | None:
        doc = self._groups.find_one({"_id": submitted.id})
        if doc is None and submitted.idempotency_key is not None:
            key = {"user": submitted.user, "idempotency_key": submitted.idempotency_key}
            doc = self._groups.find_one(key)
        return None if doc is None else _group_from_doc(doc)

    def _function(self, user: str, name: str) -> Function:
        doc = self._users.find_one({"name": user}, {f"functions.{name}": True} if key_ok(name)
                                   else {"name": True})  # fmt: skip
        if doc is None:
            raise NotFound(f"user '{user}' not found")
        found = doc.get("functions", {}).get(name) if key_ok(name) else None
        if found is None:
            raise NotFound(f"function '{name}' not found for user '{user}'")
        return function_from_doc(user, name, found)

    def _insert_items(self, jobs: list[JobRecord]) -> None:
        try:
            self._jobs.insert_many([job_doc(job) for job in jobs], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                raise

    def get(self, group_id: str) -> tuple[GroupRecord, GroupCounts] | None:
        doc = self._groups.find_one({"_id": group_id})
        if doc is None:
            return None
        counts: dict[str, Any] = {}
        started: list[float] = []
        finished: list[float] = []
        for row in self._jobs.aggregate([
            {"$match": {"group_id": group_id}},
            {"$group": {"_id": "$state", "n": {"$sum": 1}, "started": {"$min": "$started_at"},
                        "finished": {"$max": "$finished_at"}}},
        ]):  # fmt: skip
            counts[JobState(row["_id"]).value] = int(row["n"])
            if row.get("started") is not None:
                started.append(float(row["started"]))
            if row.get("finished") is not None:
                finished.append(float(row["finished"]))
        return _group_from_doc(doc), GroupCounts(
            **counts,
            started_at=min(started) if started else None,
            finished_at=max(finished) if finished else None,
        )

    def items(
        self,
        group_id: str,
        offset: int,
        limit: int,
        indices: Sequence[int] | None,
        final_only: bool,
    ) -> list[JobRecord]:
        query: Doc = {"group_id": group_id}
        if indices is not None:
            query["group_index"] = {"$in": sorted(set(indices))}
            limit = 0
        else:
            query["group_index"] = {"$gte": max(0, offset)}
            if limit <= 0:
                return []
        if final_only:
            query["state"] = {"$in": FINAL}
        docs = self._jobs.find(query, NO_LOGS, sort=[("group_index", ASCENDING)], limit=limit)
        return [job_from_doc(doc) for doc in docs]

    def list(self, user: str, limit: int) -> list[GroupRecord]:
        if limit <= 0:
            return []
        docs = self._groups.find(
            {"user": user}, sort=[("created_at", DESCENDING), ("_id", DESCENDING)], limit=limit
        )
        return [_group_from_doc(doc) for doc in docs]
