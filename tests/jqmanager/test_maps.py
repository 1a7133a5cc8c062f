"""Maps in the jqmanager on trio's autojump clock: admission by items, batched dispatch and
reports, fairness across users, watching and cancelling a group."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from faas_trio.core.errors import TooManyRequests
from faas_trio.core.groups import item_job_id
from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import (
    CancelGroup,
    Dispatch,
    FinishJob,
    FinishJobs,
    GroupAccepted,
    GroupCancelled,
    GroupProgress,
    NextJob,
    NoJob,
    Report,
    SubmitGroup,
    WatchGroup,
)
from faas_trio.core.records import (
    GroupRecord,
    JobState,
)
from faas_trio.jqmanager import maps
from faas_trio.jqmanager.handlers import handle
from faas_trio.jqmanager.manager import JobManager

from .jq_fakes import make_function, make_job
from .test_manager import fake_with_function, open_manager, outcome, submit


def a_group(user: str = "ann", total: int = 3) -> GroupRecord:
    return GroupRecord(id=new_job_id(), user=user, function="add", total=total, created_at=1.0)


async def submit_group(manager: JobManager, group: GroupRecord) -> GroupAccepted:
    args = [f"[{i}, 1]" for i in range(group.total)]
    reply = await handle(manager, SubmitGroup(group, args))
    assert isinstance(reply, GroupAccepted)
    return reply


async def ask(manager: JobManager, worker: str, max_jobs: int = 1, **kw: object) -> Dispatch:
    reply = await handle(manager, NextJob(worker, 1.0, max_jobs=max_jobs, **kw))  # type: ignore[arg-type]
    assert isinstance(reply, Dispatch)
    return reply


async def test_a_group_is_admitted_by_items_and_answers_once_for_a_repeat(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, user_max_active=5) as manager:
        group = a_group(total=4)
        accepted = await submit_group(manager, group)
        assert not accepted.existing and manager.queue.active("ann") == 4
        again = await submit_group(manager, group)
        assert again.existing and manager.queue.active("ann") == 4  # nothing queued twice
        with pytest.raises(TooManyRequests, match="FAAS_USER_MAX_ACTIVE"):
            await submit_group(manager, a_group(total=2))  # 4 + 2 > 5: refused whole
        assert manager.queue.active("ann") == 4 and len(manager.queue) == 4


async def test_a_slot_takes_a_batch_of_one_function_and_its_report_is_one_store_batch(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, max_batch=3) as manager:
        group = a_group(total=5)
        await submit_group(manager, group)
        first = await ask(manager, "w1", max_jobs=10)
        batch = [first.job, *first.more]
        assert [j.group_index for j in batch] == [0, 1, 2]  # FAAS_MAX_BATCH caps it
        assert all(j.state is JobState.RUNNING and j.worker == "w1" for j in batch)
        outcomes = [outcome(j, result=str(j.group_index)) for j in batch]
        await handle(manager, Report("w1", outcomes[0], more=outcomes[1:]))
        batches = [r for r in fake.requests if isinstance(r, FinishJobs)]
        assert len(batches) == 1 and len(batches[0].finishes) == 3
        assert not any(isinstance(r, FinishJob) for r in fake.requests)
        assert [fake.jobs[j.id].state for j in batch] == [JobState.SUCCEEDED] * 3
        assert manager.queue.active("ann") == 2
        progress = await handle(manager, WatchGroup(group.id, after=0))
        assert isinstance(progress, GroupProgress)
        assert (progress.finished, progress.remaining) == ([0, 1, 2], 2)


async def test_a_single_call_behind_a_big_map_of_another_user_is_dispatched_next(
    autojump_clock: MockClock,
) -> None:
    """The fairness rule, checked as an ordering: behind 100,000 queued items of ann, bob's
    single call is the next job an idle slot gets (so it starts as soon as a slot is free,
    whatever the size of the map before it)."""
    fake = fake_with_function()
    fake.add_function(make_function(user="bob"))
    async with open_manager(fake) as manager:
        await submit_group(manager, a_group(total=100_000))
        single = await submit(manager, make_job(user="bob"))
        taken = [await ask(manager, "w1", max_jobs=16) for _ in range(2)]
        users = [d.job.user for d in taken]
        assert "bob" in users and taken[users.index("bob")].job.id == single.id
        assert not taken[users.index("bob")].more  # bob's call was not held back in a batch


async def test_a_watch_until_done_wakes_when_the_last_item_finishes(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        group = a_group(total=2)
        await submit_group(manager, group)
        got: list[GroupProgress] = []

        async def watch() -> None:
            reply = await handle(manager, WatchGroup(group.id, wait=60, until_done=True))
            assert isinstance(reply, GroupProgress)
            got.append(reply)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            dispatch = await ask(manager, "w1", max_jobs=2)
            await trio.sleep(1)
            items = [dispatch.job, *dispatch.more]
            await handle(manager, Report("w1", outcome(items[0])))
            await trio.sleep(1)
            assert not got
            await handle(manager, Report("w1", outcome(items[1])))
        assert got[0].remaining == 0 and sorted(got[0].finished) == [0, 1]
        assert trio.current_time() < 10  # woken, not timed out
        gone = await handle(manager, WatchGroup(group.id))
        assert isinstance(gone, GroupProgress) and gone.remaining is None


async def test_cancelling_a_group_cancels_queued_and_running_items_in_one_batch(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        group = a_group(total=4)
        await submit_group(manager, group)
        running = await ask(manager, "w1")
        reply = await handle(manager, CancelGroup(group.id))
        assert reply == GroupCancelled(4)
        states = {fake.jobs[item_job_id(group.id, i)].state for i in range(4)}
        assert states == {JobState.CANCELLED}
        assert len([r for r in fake.requests if isinstance(r, FinishJobs)]) == 1
        assert manager.leases.get(running.job.id) is None and len(manager.queue) == 0
        assert manager.leases.heartbeat("w1", [], 1, False, trio.current_time())[0].cancels == [
            running.job.id
        ]
        assert manager.queue.active("ann") == 0
        assert await handle(manager, CancelGroup(group.id)) == GroupCancelled(0)


async def test_a_slots_new_request_replaces_the_one_it_gave_up_on(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        answers: list[object] = []

        async def stale() -> None:
            answers.append(await handle(manager, NextJob("w1", 30.0, slot=0)))

        async def fresh() -> None:
            answers.append(await handle(manager, NextJob("w1", 30.0, slot=0)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stale)
            await trio.sleep(1)  # the worker gave up on it and asks again for slot 0
            nursery.start_soon(fresh)
            await trio.sleep(1)
            assert answers == [NoJob()]  # the abandoned request got no job
            job = await submit(manager, make_job())
            await trio.sleep(1)
        assert isinstance(answers[1], Dispatch) and answers[1].job.id == job.id


async def test_a_big_group_is_queued_a_slice_at_a_time_each_item_at_its_index(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maps, "ADOPT_SLICE", 10)
    fake = fake_with_function()
    async with open_manager(fake) as manager, trio.open_nursery() as nursery:
        held: list[Dispatch] = []

        async def hold() -> None:
            held.append(await ask(manager, "w1", max_jobs=16))

        nursery.start_soon(hold)
        await trio.sleep(0.01)
        group = a_group(total=25)
        await submit_group(manager, group)
        # The waiting slot was served from the first slice, before the rest was queued.
        assert [job.group_index for job in (held[0].job, *held[0].more)] == list(range(10))
        queued = [manager.queue.get(item_job_id(group.id, i)) for i in range(10, 25)]
        assert [(e.job.group_index, e.job.args) for e in queued if e is not None] == [
            (i, f"[{i}, 1]") for i in range(10, 25)
        ]
