"""The Store contract for groups (maps), checked against every backend."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from faas_trio.core.errors import Conflict, NotFound
from faas_trio.core.groups import item_job_id
from faas_trio.core.ids import is_job_id, new_job_id
from faas_trio.core.messages import (
    FinishJob,
    StartJob,
)
from faas_trio.core.records import (
    GroupRecord,
    JobState,
    Runtime,
)
from faas_trio.store import Store, open_store

from .test_contract import changed, finished, user_with_function


def group(user: str = "ann", total: int = 3, **fields: object) -> GroupRecord:
    fields.setdefault("id", new_job_id())
    return GroupRecord(user=user, function="add", total=total, **fields)  # type: ignore[arg-type]


def args(n: int) -> list[str]:
    return [f"[{i}, {i}]" for i in range(n)]


async def test_a_group_is_stored_with_all_its_items_in_input_order(store: Store) -> None:
    fn = await user_with_function(store)
    created = await store.create_group(group(total=3), args(3))
    assert not created.existing and created.unfinished == []
    assert created.function == fn and created.group.created_at > 0
    gid = created.group.id
    items = await store.group_items(gid, 0, 10, None, False)
    assert [(j.group_index, j.args, j.state) for j in items] == [
        (0, "[0, 0]", JobState.QUEUED), (1, "[1, 1]", JobState.QUEUED),
        (2, "[2, 2]", JobState.QUEUED),
    ]  # fmt: skip
    assert [j.id for j in items] == [item_job_id(gid, i) for i in range(3)]
    assert all(is_job_id(j.id) and j.runtime is Runtime.PYTHON for j in items)
    # Each item is an ordinary job.
    assert await store.get_job(items[1].id) == items[1]
    jobs, _ = await store.unfinished_jobs()
    assert {j.id for j in jobs} == {j.id for j in items}
    assert [j.group_index for j in await store.group_items(gid, 1, 1, None, False)] == [1]
    assert [j.group_index for j in await store.group_items(gid, 0, 0, [2, 0], False)] == [0, 2]


async def test_group_counts_follow_its_items(store: Store) -> None:
    await user_with_function(store)
    created = await store.create_group(group(total=3), args(3))
    gid = created.group.id
    first, second, _ = await store.group_items(gid, 0, 10, None, False)
    assert await changed(store, StartJob(second.id, 1, "w1", 50.0))
    assert await changed(store, FinishJob(job=finished(first, started_at=40.0, finished_at=60.0)))
    found = await store.get_group(gid)
    assert found is not None
    stored, counts = found
    assert stored == created.group
    assert (counts.queued, counts.running, counts.succeeded, counts.final) == (1, 1, 1, 1)
    assert (counts.started_at, counts.finished_at) == (40.0, 60.0)
    finals = await store.group_items(gid, 0, 10, None, True)
    assert [j.group_index for j in finals] == [0]
    assert await store.get_group(new_job_id()) is None


async def test_create_group_is_idempotent_on_id_and_key(store: Store) -> None:
    await user_with_function(store)
    submitted = group(total=2, idempotency_key="k1")
    first = await store.create_group(submitted, args(2))
    again = await store.create_group(submitted, args(2))
    assert again.existing and again.group == first.group
    assert [j.group_index for j in again.unfinished] == [0, 1]
    by_key = await store.create_group(group(total=2, idempotency_key="k1"), args(2))
    assert by_key.existing and by_key.group.id == first.group.id
    assert len(await store.group_items(first.group.id, 0, 100, None, False)) == 2
    assert [g.id for g in await store.list_groups("ann", 10)] == [first.group.id]


async def test_create_group_checks_user_function_and_owner(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.create_group(group(), args(3))
    await user_with_function(store)
    with pytest.raises(NotFound):
        await store.create_group(
            GroupRecord(id=new_job_id(), user="ann", function="nope", total=1), args(1)
        )
    taken = await store.create_group(group(total=1), args(1))
    await user_with_function(store, "bob")
    with pytest.raises(Conflict):
        await store.create_group(group("bob", total=1, id=taken.group.id), args(1))
    assert await store.list_groups("bob", 10) == []


async def test_groups_are_listed_newest_first(store: Store) -> None:
    await user_with_function(store)
    now = time.time()
    old = await store.create_group(group(total=1, created_at=now - 10.0), args(1))
    new = await store.create_group(group(total=1, created_at=now), args(1))
    listed = await store.list_groups("ann", 10)
    assert [g.id for g in listed] == [new.group.id, old.group.id]
    assert [g.id for g in await store.list_groups("ann", 1)] == [new.group.id]


async def test_a_swept_group_goes_with_its_last_item(store: Store) -> None:
    await user_with_function(store)
    created = await store.create_group(group(total=1, created_at=10.0), args(1))
    (item,) = await store.group_items(created.group.id, 0, 10, None, False)
    await changed(store, FinishJob(job=finished(item, finished_at=11.0)))
    await store.sweep(1000.0)
    assert await store.get_job(item.id) is None
    if "Sqlite" in type(store).__name__:  # MongoDB's TTL index expires groups on its own
        assert await store.get_group(created.group.id) is None


async def test_a_database_made_before_groups_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, user TEXT NOT NULL, function TEXT NOT NULL,"
        " runtime TEXT NOT NULL, args TEXT NOT NULL, state TEXT NOT NULL, result TEXT,"
        " value TEXT, error TEXT, attempts INTEGER NOT NULL, worker TEXT, cold_start INTEGER,"
        " init_ms REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,"
        " duration_ms REAL, idempotency_key TEXT, callback TEXT,"
        " logs TEXT NOT NULL DEFAULT '')"
    )
    conn.execute(
        "INSERT INTO jobs (id, user, function, runtime, args, state, attempts, created_at)"
        " VALUES ('0000000000000000000000aa', 'ann', 'add', 'python', '[]', 'queued', 0, 1.0)"
    )
    conn.commit()
    conn.close()
    async with open_store(f"sqlite:///{path}") as store:
        old = await store.get_job("0000000000000000000000aa")
        assert old is not None and old.group_id is None
        await user_with_function(store)
        created = await store.create_group(group(total=2), args(2))
        assert len(await store.group_items(created.group.id, 0, 10, None, False)) == 2
