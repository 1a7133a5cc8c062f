"""The Store contract for a user's stored bytes (the per-user cap's count), on every backend.

What a user's jobs hold is counted when a job is created (its arguments) and when it finishes
(its result, value, error and logs), and no longer once the job is deleted, swept, or its user
deleted; a repeated creation or finish counts nothing.
"""

from __future__ import annotations

from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import CreateJob, DeleteJob, DeleteUser, FinishJob, PutUser
from faas_trio.core.records import GroupRecord, JobState
from faas_trio.store import Store
from tests.records import submission_of

from .test_contract import changed, created, finished, job, ok, user_with_function, write

ARGS = '["ß", 12]'  # 10 bytes as UTF-8, 9 characters: the count is of bytes
LOGS = "a log\n"


async def test_a_new_user_and_an_unknown_one_hold_nothing(store: Store) -> None:
    await user_with_function(store)
    assert await store.stored_bytes("ann") == 0
    assert await store.stored_bytes("nobody") == 0


async def test_creation_counts_the_arguments_once(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job(args=ARGS))).job
    assert await store.stored_bytes("ann") == 10
    await ok(store, CreateJob(submission_of(record)))  # a repeat: existing, nothing more
    assert await store.stored_bytes("ann") == 10


async def test_a_finish_counts_what_it_stores_once(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job(args=ARGS))).job
    done = finished(record, JobState.FAILED, result=None, value=None, error="boom")
    assert await changed(store, FinishJob(job=done, logs=LOGS))
    assert await store.stored_bytes("ann") == 10 + 4 + len(LOGS)
    assert not await changed(store, FinishJob(job=done, logs=LOGS))
    assert await store.stored_bytes("ann") == 10 + 4 + len(LOGS)


async def test_users_are_counted_apart(store: Store) -> None:
    await user_with_function(store, "ann")
    await user_with_function(store, "bob")
    await created(store, job("ann", args=ARGS))
    await created(store, job("bob", args="[1]"))
    assert (await store.stored_bytes("ann"), await store.stored_bytes("bob")) == (10, 3)


async def test_deleting_a_job_takes_its_bytes_off(store: Store) -> None:
    await user_with_function(store)
    kept = (await created(store, job(args="[1]"))).job
    gone = (await created(store, job(args=ARGS))).job
    await changed(store, FinishJob(job=finished(gone), logs=LOGS))
    await ok(store, DeleteJob(id=gone.id))
    assert await store.stored_bytes("ann") == 3
    await ok(store, DeleteJob(id=kept.id))
    assert await store.stored_bytes("ann") == 0


async def test_a_sweep_takes_the_swept_jobs_bytes_off(store: Store) -> None:
    await user_with_function(store, "ann")
    await user_with_function(store, "bob")
    old = (await created(store, job("ann", args=ARGS))).job
    recent = (await created(store, job("ann", args="[1]"))).job
    theirs = (await created(store, job("bob", args="[2]"))).job
    await changed(store, FinishJob(job=finished(old, finished_at=100.0), logs=LOGS))
    await changed(store, FinishJob(job=finished(theirs, finished_at=100.0)))
    await changed(store, FinishJob(job=finished(recent, finished_at=300.0)))
    assert await store.sweep(200.0) == 2
    # "11" as result and value: 4 bytes.
    assert await store.stored_bytes("ann") == 3 + 4
    assert await store.stored_bytes("bob") == 0


async def test_a_deleted_user_registered_again_holds_nothing(store: Store) -> None:
    await user_with_function(store)
    await created(store, job(args=ARGS))
    await ok(store, DeleteUser(name="ann"))
    assert await store.stored_bytes("ann") == 0
    await user_with_function(store)
    assert await store.stored_bytes("ann") == 0


async def test_a_reset_keeps_the_count_of_the_jobs_it_keeps(store: Store) -> None:
    await user_with_function(store)
    await created(store, job(args=ARGS))
    assert not isinstance(await write(store, PutUser(name="ann", key_hash="h2")), Exception)
    assert await store.stored_bytes("ann") == 10


async def test_a_group_counts_the_arguments_of_all_its_items_once(store: Store) -> None:
    await user_with_function(store)
    group = GroupRecord(id=new_job_id(), user="ann", function="add", total=3)
    items = ["[1]", "[22]", ARGS]
    await store.create_group(group, items)
    assert await store.stored_bytes("ann") == 3 + 4 + 10
    await store.create_group(group, items)  # a repeat: existing
    assert await store.stored_bytes("ann") == 3 + 4 + 10
