"""GroupCommitter against a scripted store: batching, per-writer results, failures, stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest
import trio
import trio.testing

from faas_trio.core.errors import FaasError, InternalError, NotFound, PeerUnavailable
from faas_trio.core.messages import Changed, DeleteJob, Done, StartJob
from faas_trio.dbmanager.committer import GroupCommitter
from faas_trio.store import Store, WriteOp, WriteResult


class ScriptedStore:
    """Answers ``DeleteJob(id)``: ``Done`` for ids starting with "ok", else ``NotFound``;
    ``StartJob(id)``: ``Changed(applied=True)``. While ``gate`` is set, each apply waits for
    it first. ``fail_next`` makes the next batch raise that exception instead."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate: trio.Event | None = None
        self.fail_next: BaseException | None = None

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        ids = [cast(DeleteJob | StartJob, op).id for op in ops]
        self.batches.append(ids)
        if self.gate is not None:
            await self.gate.wait()
        await trio.lowlevel.checkpoint()
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        return [
            Changed(applied=True) if isinstance(op, StartJob)
            else Done() if i.startswith("ok") else NotFound(f"job '{i}' not found")
            for op, i in zip(ops, ids, strict=True)
        ]  # fmt: skip


@pytest.fixture
async def store() -> ScriptedStore:
    return ScriptedStore()


@pytest.fixture
async def committer(nursery: trio.Nursery, store: ScriptedStore) -> GroupCommitter:
    committer = GroupCommitter(cast(Store, store), max_batch=4)
    await nursery.start(committer.run)
    return committer


async def test_a_lone_write_commits_at_once(
    committer: GroupCommitter, store: ScriptedStore
) -> None:
    assert await committer.write(DeleteJob(id="ok1")) == Done()
    assert store.batches == [["ok1"]]


async def test_writes_waiting_together_share_a_batch_in_order(
    committer: GroupCommitter, store: ScriptedStore
) -> None:
    store.gate = trio.Event()
    replies: dict[str, object] = {}

    async def write(job_id: str) -> None:
        try:
            replies[job_id] = await committer.write(DeleteJob(id=job_id))
        except FaasError as exc:
            replies[job_id] = exc

    async with trio.open_nursery() as writers:
        writers.start_soon(write, "ok0")
        await trio.testing.wait_all_tasks_blocked()  # ok0's batch is held at the gate
        for job_id in ["ok1", "bad2", "ok3", "ok4", "bad5"]:
            writers.start_soon(write, job_id)
            await trio.testing.wait_all_tasks_blocked()
        store.gate.set()

    assert store.batches == [["ok0"], ["ok1", "bad2", "ok3", "ok4"], ["bad5"]]
    assert {k: type(v) for k, v in replies.items()} == {
        "ok0": Done, "ok1": Done, "bad2": NotFound, "ok3": Done, "ok4": Done, "bad5": NotFound,
    }  # fmt: skip
    assert (
        isinstance(replies["bad2"], NotFound) and replies["bad2"].message == "job 'bad2' not found"
    )


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(PeerUnavailable("disk gone"), PeerUnavailable), (RuntimeError("bug"), InternalError)],
)
async def test_a_failed_batch_fails_each_of_its_writers_and_the_next_batch_runs(
    committer: GroupCommitter,
    store: ScriptedStore,
    failure: BaseException,
    raised: type[FaasError],
) -> None:
    errors: list[FaasError] = []

    async def write(job_id: str) -> None:
        with pytest.raises(raised) as info:
            await committer.write(DeleteJob(id=job_id))
        errors.append(info.value)

    store.fail_next = failure
    async with trio.open_nursery() as writers:
        writers.start_soon(write, "ok1")
        writers.start_soon(write, "ok2")
    assert [sorted(batch) for batch in store.batches] == [["ok1", "ok2"]]
    assert len(errors) == 2
    assert errors[0] is not errors[1]  # each writer raises its own exception object
    assert await committer.write(DeleteJob(id="ok3")) == Done()


async def test_stopping_fails_queued_writes_and_refuses_new_ones(store: ScriptedStore) -> None:
    committer = GroupCommitter(cast(Store, store))
    store.gate = trio.Event()
    outcomes: list[object] = []

    async def write(job_id: str) -> None:
        try:
            outcomes.append(await committer.write(DeleteJob(id=job_id)))
        except PeerUnavailable as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery:
        running = trio.CancelScope()

        async def run_committer() -> None:
            with running:
                await committer.run()

        nursery.start_soon(run_committer)
        nursery.start_soon(write, "ok0")
        await trio.testing.wait_all_tasks_blocked()  # ok0 held in the store
        nursery.start_soon(write, "ok1")
        await trio.testing.wait_all_tasks_blocked()  # ok1 queued
        running.cancel()
    assert len(outcomes) == 2
    assert all(isinstance(outcome, PeerUnavailable) for outcome in outcomes)
    assert store.batches == [["ok0"]]
    with pytest.raises(PeerUnavailable):
        await committer.write(DeleteJob(id="ok2"))


async def test_a_write_cancelled_before_it_is_queued_is_never_applied(
    committer: GroupCommitter, store: ScriptedStore
) -> None:
    store.gate = trio.Event()
    async with trio.open_nursery() as writers:
        writers.start_soon(committer.write, DeleteJob(id="ok0"))
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(0):
            await committer.write(DeleteJob(id="ok1"))
        store.gate.set()
    assert await committer.write(DeleteJob(id="ok2")) == Done()
    assert store.batches == [["ok0"], ["ok2"]]


async def test_a_transition_sent_again_before_it_settled_shares_its_outcome(
    committer: GroupCommitter, store: ScriptedStore
) -> None:
    start = StartJob(id="ok1", attempt=1, worker="w1", started_at=1.0)
    store.gate = trio.Event()
    replies: list[object] = []

    async def write(op: StartJob) -> None:
        replies.append(await committer.write(op))

    async with trio.open_nursery() as writers:
        writers.start_soon(write, start)
        await trio.testing.wait_all_tasks_blocked()  # being applied, held at the gate
        writers.start_soon(write, start)  # its sender timed out and sent it again
        writers.start_soon(write, StartJob(id="ok1", attempt=2, worker="w1", started_at=2.0))
        await trio.testing.wait_all_tasks_blocked()
        store.gate.set()
    assert replies == [Changed(applied=True)] * 3
    assert store.batches == [["ok1"], ["ok1"]]  # the first start, then the other attempt's
    # Once settled, the same transition is applied again (the store answers it).
    assert await committer.write(start) == Changed(applied=True)
    assert store.batches[-1] == ["ok1"] and len(store.batches) == 3


async def test_a_transition_shared_before_it_was_queued_fails_its_sharers_if_never_queued(
    nursery: trio.Nursery, store: ScriptedStore
) -> None:
    committer = GroupCommitter(cast(Store, store), max_waiting=0)  # a send waits for the loop
    await nursery.start(committer.run)
    store.gate = trio.Event()
    start = StartJob(id="ok1", attempt=1, worker="w1", started_at=1.0)
    shared: list[object] = []

    async def share() -> None:
        try:
            shared.append(await committer.write(start))
        except PeerUnavailable as exc:
            shared.append(exc)

    async with trio.open_nursery() as writers:
        writers.start_soon(committer.write, DeleteJob(id="ok0"))
        await trio.testing.wait_all_tasks_blocked()  # ok0 held in the store: the loop is busy
        first = trio.CancelScope()

        async def first_writer() -> None:
            with first:
                await committer.write(start)

        writers.start_soon(first_writer)
        await trio.testing.wait_all_tasks_blocked()  # its send waits for the loop
        writers.start_soon(share)
        await trio.testing.wait_all_tasks_blocked()  # the resend shares it
        first.cancel()  # the first writer gives up before its write was queued
        await trio.testing.wait_all_tasks_blocked()
        assert len(shared) == 1 and isinstance(shared[0], PeerUnavailable)
        store.gate.set()
    assert store.batches == [["ok0"]]  # the start was never applied
