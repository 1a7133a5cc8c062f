"""Early dispatch: a sync call runs on a waiting slot while its job is being stored, and no
final state is written before the store answered its CreateJob (in process, autojump clock)."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from faas_trio.core.errors import NotFound, PeerUnavailable
from faas_trio.core.messages import (
    Commands,
    CreateJob,
    Dispatch,
    Done,
    FinishJob,
    ForgetFunctions,
    Heartbeat,
    Report,
    Submit,
)
from faas_trio.core.records import JobRecord, JobState
from faas_trio.jqmanager.handlers import handle
from faas_trio.jqmanager.manager import JobManager
from tests.records import submission_of

from .jq_fakes import FakeDbManager, make_function, make_job
from .test_manager import dispatched, fake_with_function, next_job, open_manager, outcome, submit


async def _warm(manager: JobManager) -> None:
    """One call the ordinary way, so the jqmanager knows the function."""
    await submit(manager, make_job())
    first = await dispatched(manager, "w0")
    await handle(manager, Report("w0", outcome(first)))


async def _sync_call(manager: JobManager, job: JobRecord, into: list[JobRecord]) -> None:
    reply = await handle(manager, Submit(submission_of(job), 30.0))
    into.append(reply.job)  # type: ignore[attr-defined]


async def _held_dispatch(manager: JobManager, worker: str, into: list[Dispatch]) -> None:
    reply = await next_job(manager, worker, wait=30.0)
    assert isinstance(reply, Dispatch)
    into.append(reply)


def _kinds(fake: FakeDbManager, job_id: str) -> list[str]:
    return [
        type(r).__name__ for r in fake.requests
        if (isinstance(r, CreateJob) and r.submission.id == job_id)
        or (isinstance(r, FinishJob) and r.job.id == job_id)
    ]  # fmt: skip


async def test_a_sync_call_runs_while_stored_and_finishes_only_after(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager, trio.open_nursery() as nursery:
        await _warm(manager)
        dispatches: list[Dispatch] = []
        nursery.start_soon(_held_dispatch, manager, "w1", dispatches)
        await trio.sleep(0.01)
        fake.answering = trio.Event()  # the store is slow to answer
        job, answers = make_job(), []
        nursery.start_soon(_sync_call, manager, job, answers)
        await trio.sleep(0.01)
        assert [d.job.id for d in dispatches] == [job.id]  # it runs already
        assert job.id not in fake.jobs
        reported: list[object] = []

        async def report() -> None:
            reported.append(await handle(manager, Report("w1", outcome(dispatches[0].job))))

        nursery.start_soon(report)
        await trio.sleep(0.5)
        assert not reported and not answers  # nothing final before the job is stored
        fake.answering.set()
        await trio.sleep(0.01)
        assert reported == [Done()]
        assert [a.state for a in answers] == [JobState.SUCCEEDED]
        assert _kinds(fake, job.id) == ["CreateJob", "FinishJob"]
        assert fake.jobs[job.id].state is JobState.SUCCEEDED
        assert manager.queue.active("ann") == 0


async def test_a_call_created_with_another_version_reruns_and_the_early_run_is_void(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager, trio.open_nursery() as nursery:
        await _warm(manager)
        fake.add_function(make_function(version=2))  # redeployed since
        early: list[Dispatch] = []
        nursery.start_soon(_held_dispatch, manager, "w1", early)
        await trio.sleep(0.01)
        job, answers = make_job(), []
        nursery.start_soon(_sync_call, manager, job, answers)
        await trio.sleep(0.01)
        assert early[0].function.version == 1
        beat = await handle(manager, Heartbeat("w1", running=[job.id], slots=1, wait=0))
        assert isinstance(beat, Commands) and beat.cancel == []  # by id: it could hit attempt 2
        # The void attempt's report changes nothing, though the job waits queued, and the
        # second attempt (of the version stored) finishes it.
        await handle(manager, Report("w1", outcome(early[0].job, result="old")))
        assert not answers
        again = await dispatched(manager, "w2")
        lease = manager.leases.get(job.id)
        assert lease is not None and (again.attempts, lease.function.version) == (2, 2)
        await handle(manager, Report("w2", outcome(again, result="new")))
        await trio.sleep(0.01)
        assert [(a.state, a.result, a.attempts) for a in answers] == [
            (JobState.SUCCEEDED, "new", 2)
        ]
        assert manager.queue.active("ann") == 0


async def test_a_call_whose_function_is_gone_leaves_nothing_behind(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager, trio.open_nursery() as nursery:
        await _warm(manager)
        del fake.functions[("ann", "add")]
        early: list[Dispatch] = []
        nursery.start_soon(_held_dispatch, manager, "w1", early)
        await trio.sleep(0.01)
        job = make_job()
        with pytest.raises(NotFound):
            await handle(manager, Submit(submission_of(job), 30.0))
        await trio.sleep(0.01)  # the held request for work returns its dispatch
        assert [d.job.id for d in early] == [job.id]
        assert manager.known(job.id) is None and manager.queue.active("ann") == 0
        await handle(manager, Report("w1", outcome(early[0].job)))
        assert _kinds(fake, job.id) == ["CreateJob"] and job.id not in fake.jobs


@pytest.mark.parametrize("forget", [None, ForgetFunctions("ann", "add"), ForgetFunctions("ann")])
async def test_a_call_with_an_idempotency_key_or_of_a_changed_function_waits_for_the_store(
    autojump_clock: MockClock, forget: ForgetFunctions | None
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager, trio.open_nursery() as nursery:
        await _warm(manager)
        if forget is not None:  # the frontend says the function changed
            assert await handle(manager, forget) == Done()
        key = "k1" if forget is None else None
        dispatches: list[Dispatch] = []
        nursery.start_soon(_held_dispatch, manager, "w1", dispatches)
        await trio.sleep(0.01)
        fake.answering = trio.Event()
        nursery.start_soon(_sync_call, manager, make_job(idempotency_key=key), [])
        await trio.sleep(0.5)
        assert not dispatches
        fake.answering.set()
        await trio.sleep(0.01)
        assert len(dispatches) == 1
        nursery.cancel_scope.cancel()


async def test_a_call_the_store_does_not_answer_is_void_but_not_cancelled(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, db_timeout=1.0) as manager, trio.open_nursery() as nursery:
        await _warm(manager)
        early: list[Dispatch] = []
        nursery.start_soon(_held_dispatch, manager, "w1", early)
        await trio.sleep(0.01)
        fake.answering = trio.Event()  # the dbmanager hangs
        job = make_job()
        with pytest.raises(PeerUnavailable):
            await handle(manager, Submit(submission_of(job), 30.0))
        await trio.sleep(0.01)
        assert [d.job.id for d in early] == [job.id]
        # It may be stored and run again: a cancel by id could reach that run.
        beat = await handle(manager, Heartbeat("w1", running=[job.id], slots=1, wait=0))
        assert isinstance(beat, Commands) and beat.cancel == []
        assert await handle(manager, Report("w1", outcome(early[0].job))) == Done()
        assert manager.known(job.id) is None and job.id not in fake.jobs
        nursery.cancel_scope.cancel()


async def test_a_create_answered_from_before_a_change_is_not_remembered(
    autojump_clock: MockClock,
) -> None:
    """The store answered a CreateJob with the old function, and the frontend's notice of a
    redeploy overtook that answer: a call made after the redeploy must not start with it."""
    fake = fake_with_function()
    async with open_manager(fake) as manager, trio.open_nursery() as nursery:
        fake.answering = trio.Event()
        created: list[JobRecord] = []

        async def create() -> None:
            created.append(await submit(manager, make_job()))

        nursery.start_soon(create)
        await trio.sleep(0.01)
        # Answered with version 1; the redeploy commits and its notice arrives meanwhile.
        assert await handle(manager, ForgetFunctions("ann", "add")) == Done()
        fake.answering.set()
        await trio.sleep(0.01)
        fake.add_function(make_function(version=2))
        taken = await dispatched(manager, "w0")
        assert [taken.id] == [c.id for c in created]
        await handle(manager, Report("w0", outcome(taken)))
        early: list[Dispatch] = []
        nursery.start_soon(_held_dispatch, manager, "w1", early)
        await trio.sleep(0.01)
        fake.answering = trio.Event()
        nursery.start_soon(_sync_call, manager, make_job(), [])
        await trio.sleep(0.5)
        assert not early  # it waits for the store, which answers version 2
        fake.answering.set()
        await trio.sleep(0.01)
        assert [d.function.version for d in early] == [2]
        nursery.cancel_scope.cancel()
