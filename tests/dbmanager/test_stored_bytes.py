"""The per-user cap on stored bytes, through a real dbmanager on a SQLite file."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from msgspec.structs import replace

from faas_trio.core.errors import PayloadTooLarge
from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import (
    Changed,
    CreateGroup,
    CreateJob,
    DeleteJob,
    FinishJob,
    FinishJobs,
    JobCreated,
    PutFunction,
    PutUser,
)
from faas_trio.core.records import GroupRecord, JobState
from faas_trio.core.rpc import Client, open_client
from faas_trio.dbmanager.server import serve_store
from faas_trio.dbmanager.stored_bytes import StoredBytesCap
from faas_trio.store import Store, open_store
from tests.records import submission_of

from .test_server import ADD, call, config_for, new_job

CAP = 40  # bytes; each job's arguments "[4, 7]" are 6


class ReadCountingStore:
    """A store that counts how often the stored bytes are read."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.reads = 0

    async def stored_bytes(self, user: str) -> int:
        self.reads += 1
        return await self.inner.stored_bytes(user)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
async def served(
    nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[tuple[Client, ReadCountingStore]]:
    config = dataclasses.replace(config_for(tmp_path), max_stored_bytes=CAP)
    async with open_store(config.store_url) as store:
        counting = ReadCountingStore(store)
        endpoint = await nursery.start(serve_store, counting, config)
        async with open_client(endpoint, name="test") as client:
            await call(client, PutUser(name="ann"))
            await call(client, PutFunction(function=ADD))
            yield client, counting
        nursery.cancel_scope.cancel()


async def test_a_submission_past_the_cap_is_refused_saying_what_to_change(
    served: tuple[Client, ReadCountingStore],
) -> None:
    client, store = served
    for number in range(6):  # 36 bytes
        assert isinstance(await call(client, CreateJob(submission_of(new_job(number)))), JobCreated)
    with pytest.raises(PayloadTooLarge) as refused:
        await call(client, CreateJob(submission_of(new_job(6))))
    assert "ann's jobs hold 36 bytes" in refused.value.message
    assert "FAAS_MAX_STORED_BYTES of 40" in refused.value.message
    # The count was read once; the dbmanager added its own writes since.
    assert store.reads == 1
    assert await store.stored_bytes("ann") == 36


async def test_results_count_and_a_delete_frees_room_at_once(
    served: tuple[Client, ReadCountingStore],
) -> None:
    client, store = served
    first = new_job(1)
    await call(client, CreateJob(submission_of(first)))
    done = replace(first, state=JobState.SUCCEEDED, result="x" * 20, value="1")
    assert await call(client, FinishJob(job=done, logs="log")) == Changed(applied=True)
    second = new_job(2)
    await call(client, CreateJob(submission_of(second)))
    failed = replace(second, state=JobState.FAILED, error="e")
    await call(client, FinishJobs(finishes=[FinishJob(job=failed)]))
    # 6 + 20 + 1 + 3, and 6 + 1: 37, so 6 more do not fit.
    with pytest.raises(PayloadTooLarge):
        await call(client, CreateJob(submission_of(new_job(3))))
    await call(client, DeleteJob(id=first.id))
    assert isinstance(await call(client, CreateJob(submission_of(new_job(3)))), JobCreated)


async def test_a_map_past_the_cap_is_refused_whole(
    served: tuple[Client, ReadCountingStore],
) -> None:
    client, store = served
    group = GroupRecord(id=new_job_id(), user="ann", function="add", total=7)
    with pytest.raises(PayloadTooLarge):
        await call(client, CreateGroup(group=group, args=["[4, 7]"] * 7))
    assert await store.stored_bytes("ann") == 0
    smaller = replace(group, id=new_job_id(), total=6)
    await call(client, CreateGroup(group=smaller, args=["[4, 7]"] * 6))
    with pytest.raises(PayloadTooLarge):
        await call(client, CreateJob(submission_of(new_job(9))))


class FixedStore:
    """Answers a fixed count, slowly, counting its reads."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.reads = 0

    async def stored_bytes(self, user: str) -> int:
        self.reads += 1
        await trio.sleep(0.01)
        return self.count


async def test_concurrent_checks_read_once_and_a_stale_count_is_read_again() -> None:
    store = FixedStore(10)
    now = [0.0]
    cap = StoredBytesCap(store, 100, ttl=30.0, clock=lambda: now[0])  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(cap.check, "ann", 5)
    assert store.reads == 1
    cap.added("ann", 80)
    with pytest.raises(PayloadTooLarge):
        await cap.check("ann", 20)
    now[0] = 31.0
    await cap.check("ann", 20)  # read again: the store says 10
    assert store.reads == 2
