"""A long dbmanager outage: every submission is refused (503), the creations to resend are
bounded and resent by one task, memory stays flat, and the jobs stored meanwhile run."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import trio
from trio.testing import MockClock

from faas_trio.core.errors import PeerUnavailable
from faas_trio.core.messages import JobCreated
from faas_trio.core.records import GroupRecord, Submission
from faas_trio.jqmanager.maps import MapManager
from faas_trio.jqmanager.unanswered import UnansweredCreates
from tests.records import submission_of

from .jq_fakes import FakeDbManager, make_function, make_job
from .test_manager import open_manager

pytestmark = pytest.mark.parametrize("autojump_clock", [MockClock(autojump_threshold=0)])


def submission(n: int) -> Submission:
    return Submission(id=f"{n:024x}", user="ann", function="add", args="[1, 2]")


async def test_one_task_resends_a_bounded_set_oldest_first(autojump_clock: MockClock) -> None:
    up = trio.Event()
    created: list[str] = []

    async def create(sub: Submission) -> JobCreated:
        if not up.is_set():
            await trio.sleep(5)
            raise PeerUnavailable("dbmanager did not answer")
        return JobCreated(job=make_job(id=sub.id), function=make_function())

    async with trio.open_nursery() as nursery:
        unanswered = UnansweredCreates(
            create, lambda reply: created.append(reply.job.id), nursery, max_count=100
        )
        for n in range(1000):
            unanswered.add(submission(n))
            assert len(nursery.child_tasks) == 1
        assert (len(unanswered), unanswered.dropped) == (100, 900)
        assert unanswered.bytes == 100 * len("[1, 2]")
        await trio.sleep(60)
        up.set()
        await trio.sleep(10)  # virtual: enough for the next try and every create
        assert len(unanswered) == 0
        assert not nursery.child_tasks  # the drainer is gone once the set is empty
    assert created == [f"{n:024x}" for n in range(900, 1000)]


async def test_the_bound_counts_argument_bytes_too(autojump_clock: MockClock) -> None:
    async def never(sub: Submission) -> JobCreated:
        await trio.sleep_forever()
        raise AssertionError

    async with trio.open_nursery() as nursery:
        unanswered = UnansweredCreates(never, lambda _: None, nursery, max_bytes=1000)
        big = Submission(id="f" * 24, user="ann", function="add", args="[" + "1," * 300 + "1]")
        for n in range(10):
            unanswered.add(Submission(**{**_fields(big), "id": f"{n:024x}"}))
        assert unanswered.bytes <= 1000 and len(unanswered) == 1
        nursery.cancel_scope.cancel()


def _fields(sub: Submission) -> dict[str, object]:
    return {f: getattr(sub, f) for f in sub.__struct_fields__}


async def test_a_long_outage_keeps_memory_flat_and_stored_jobs_run(
    autojump_clock: MockClock,
) -> None:
    fake = FakeDbManager()
    fake.add_function(make_function())
    async with open_manager(fake, user_rate=1e9, db_timeout=1.0) as manager:
        manager.unanswered.max_count = 500
        fake.answering = trio.Event()  # the dbmanager hangs: every CreateJob times out

        async def refuse(count: int) -> None:
            for _ in range(count):
                with pytest.raises(PeerUnavailable):
                    await manager.submit(submission_of(make_job()), 0.0)

        await refuse(1000)
        tasks = len(manager.nursery.child_tasks)
        # Garbage (refusals' exceptions and their tracebacks form cycles) is collected before
        # each snapshot, so that only what is kept counts, not what the collector had yet to
        # free. What was allocated before the first snapshot is not traced: the held
        # submissions the new ones replace (about 100 kB) count as growth, not as freed.
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.take_snapshot()
            await refuse(3000)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        # 3,000 more refused submissions; unbounded, each would keep its record (and, as
        # before, a task of its own).
        assert grown < 200_000, f"memory grew by {grown} bytes"
        assert len(manager.nursery.child_tasks) == tasks
        assert len(manager.unanswered) == 500

        # The dbmanager stored the last 500 after all (it hung after writing); once it
        # answers, they are taken over and queued.
        held = [s for s in manager.unanswered._pending.values() if isinstance(s, Submission)]
        for sub in held:
            fake.jobs[sub.id] = make_job(id=sub.id, created_at=sub.created_at)
        fake.answering.set()
        await trio.sleep(10)  # virtual: enough for the next try and every create
        assert len(manager.unanswered) == 0
        assert all(manager.current(sub.id) is not None for sub in held)
        # The drainer may have had one resend in flight (not in ``held``) when the dbmanager
        # answered: that one is created and queued too.
        assert manager.stats().queued in (500, 501)


async def test_a_map_refused_in_an_outage_is_resent_by_the_same_task_and_queued_once_stored(
    autojump_clock: MockClock,
) -> None:
    fake = FakeDbManager()
    fake.add_function(make_function())
    async with open_manager(fake, user_rate=1e9, db_timeout=1.0) as manager:
        fake.answering = trio.Event()  # the dbmanager hangs
        maps = MapManager(manager)
        groups = [
            GroupRecord(id=f"{n:024x}", user="ann", function="add", total=3) for n in range(5)
        ]
        for group in groups:
            with pytest.raises(PeerUnavailable):
                await maps.submit(group, ["[1, 2]"] * 3)
        with pytest.raises(PeerUnavailable):
            await manager.submit(submission_of(make_job()), 0.0)
        assert len(manager.unanswered) == 6  # a group counts once, its bytes all
        assert manager.unanswered.bytes == 5 * 3 * len("[1, 2]") + len("[4, 7]")
        assert manager.stats().queued == 0
        fake.answering.set()
        await trio.sleep(10)  # virtual: enough for the next try and every create
        assert len(manager.unanswered) == 0
        assert manager.stats().queued == 5 * 3 + 1
        assert all(manager.groups.remaining(group.id) == 3 for group in groups)
