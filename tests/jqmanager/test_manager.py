"""The job lifecycle on trio's autojump clock, with the dbmanager called in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
import trio
from trio.testing import MockClock

from faas_trio.core.errors import PeerUnavailable, TooManyRequests
from faas_trio.core.messages import (
    CancelJob,
    Commands,
    Dispatch,
    Done,
    GetStats,
    Heartbeat,
    JobReply,
    NextJob,
    NoJob,
    Report,
    RequeueJob,
    StartJob,
    Stats,
    Submit,
    WaitJob,
)
from faas_trio.core.records import JobRecord, JobState, Outcome
from faas_trio.jqmanager.config import JqManagerConfig
from faas_trio.jqmanager.handlers import handle, take_back_undelivered
from faas_trio.jqmanager.manager import JobManager
from faas_trio.jqmanager.writes import START_WRITE_DELAY
from tests.records import submission_of

from .jq_fakes import FakeDbManager, InProcessDb, make_function, make_job


@asynccontextmanager
async def open_manager(
    fake: FakeDbManager, *, wait_ready: bool = True, **settings: Any
) -> AsyncIterator[JobManager]:
    config = JqManagerConfig(**settings)
    async with trio.open_nursery() as nursery:
        manager = JobManager(config, InProcessDb(fake), nursery)
        nursery.start_soon(manager.load)
        nursery.start_soon(manager.watch_leases)
        if wait_ready:
            await manager.ready.wait()
        yield manager
        nursery.cancel_scope.cancel()


def fake_with_function() -> FakeDbManager:
    fake = FakeDbManager()
    fake.add_function(make_function())
    return fake


async def submit(manager: JobManager, job: JobRecord, wait: float = 0.0) -> JobRecord:
    reply = await handle(manager, Submit(submission_of(job), wait))
    assert isinstance(reply, JobReply)
    return reply.job


async def next_job(manager: JobManager, worker: str, wait: float = 1.0) -> Dispatch | NoJob:
    reply = await handle(manager, NextJob(worker, wait))
    assert isinstance(reply, Dispatch | NoJob)
    return reply


async def dispatched(manager: JobManager, worker: str) -> JobRecord:
    reply = await next_job(manager, worker)
    assert isinstance(reply, Dispatch)
    return reply.job


def outcome(job: JobRecord, state: JobState = JobState.SUCCEEDED, **fields: Any) -> Outcome:
    return Outcome(job_id=job.id, attempt=job.attempts, state=state, **fields)


async def stats(manager: JobManager) -> Stats:
    reply = await handle(manager, GetStats())
    assert isinstance(reply, Stats)
    return reply


async def test_lost_worker_requeues_then_fails_the_job_as_worker_lost(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, max_attempts=2, lease_timeout=3.0) as manager:
        job = await submit(manager, make_job())
        first = await dispatched(manager, "w1")
        assert (first.attempts, first.state, first.worker) == (1, JobState.RUNNING, "w1")
        await trio.sleep(4)  # w1 says nothing more
        assert (await stats(manager)).queued == 1
        assert any(isinstance(r, RequeueJob) and r.id == job.id for r in fake.requests)
        assert fake.jobs[job.id].state is JobState.QUEUED
        second = await dispatched(manager, "w2")
        assert second.attempts == 2
        reply = await handle(manager, WaitJob(job.id, 10))
        assert isinstance(reply, JobReply)
        assert (reply.job.state, reply.job.error) == (JobState.FAILED, "worker lost")
        assert fake.jobs[job.id].state is JobState.FAILED
        assert manager.queue.active("ann") == 0
        assert (await stats(manager)).workers == 0


async def test_a_job_missing_from_heartbeats_is_requeued(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake, dispatch_grace=1.0) as manager:
        job = await submit(manager, make_job())
        await dispatched(manager, "w1")  # the worker never got it
        beat = Heartbeat("w1", running=[], slots=1, wait=0)
        await handle(manager, beat)  # within the grace: the dispatch may be in flight
        await trio.sleep(1.0)
        await handle(manager, beat)
        assert job.id in manager.leases
        await handle(manager, beat)
        assert job.id in manager.queue
        again = await dispatched(manager, "w1")
        assert (again.id, again.attempts) == (job.id, 2)


async def test_unfinished_jobs_are_reloaded_at_start(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    queued = make_job()
    running = make_job(state=JobState.RUNNING, attempts=1, worker="w9", started_at=1.0)
    orphan = make_job(state=JobState.RUNNING, attempts=1, worker="gone", started_at=1.0)
    done = make_job(state=JobState.SUCCEEDED, result="11")
    for job in (queued, running, orphan, done):
        fake.jobs[job.id] = job
    async with open_manager(fake, lease_timeout=3.0) as manager:
        assert (await stats(manager)).queued == 1
        assert (await stats(manager)).running == 2
        assert (await dispatched(manager, "w1")).id == queued.id
        # w1 and w9 are alive; "gone" never shows up again.
        for _ in range(2):
            await trio.sleep(2)
            await handle(manager, Heartbeat("w9", running=[running.id], slots=1, wait=0))
            await handle(manager, Heartbeat("w1", running=[queued.id], slots=1, wait=0))
        assert running.id in manager.leases
        assert orphan.id in manager.queue
        reply = await handle(manager, Report("w9", outcome(running, result="11")))
        assert isinstance(reply, Done)
        assert fake.jobs[running.id].state is JobState.SUCCEEDED
        assert (await dispatched(manager, "w1")).id == orphan.id


async def test_requests_wait_for_the_load_which_retries_until_the_db_answers(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    fake.answering = trio.Event()  # the dbmanager is not up yet
    async with open_manager(fake, wait_ready=False, db_timeout=2.0) as manager:
        assert isinstance(await next_job(manager, "w1", wait=1), NoJob)
        with pytest.raises(PeerUnavailable):
            await submit(manager, make_job())
        fake.answering.set()
        await manager.ready.wait()
        job = await submit(manager, make_job())
        assert (await dispatched(manager, "w1")).id == job.id


async def test_submit_fails_in_bounded_time_when_the_db_hangs(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake, db_timeout=5.0) as manager:
        fake.answering = trio.Event()
        started = trio.current_time()
        with pytest.raises(PeerUnavailable):
            await submit(manager, make_job())
        assert trio.current_time() - started <= 5.0 + 0.1
        assert manager.queue.active("ann") == 0  # the admission was given back


async def test_a_held_heartbeat_answers_when_a_cancel_arrives(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        job = await submit(manager, make_job())
        await dispatched(manager, "w1")
        commands: list[Commands] = []
        started = trio.current_time()

        async def beat() -> None:
            reply = await handle(manager, Heartbeat("w1", [job.id], slots=1, wait=60))
            assert isinstance(reply, Commands)
            commands.append(reply)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(beat)
            await trio.testing.wait_all_tasks_blocked()
            cancelled = await handle(manager, CancelJob(job.id))
        assert isinstance(cancelled, JobReply) and cancelled.job.state is JobState.CANCELLED
        assert commands == [Commands(cancel=[job.id])]
        assert trio.current_time() < started + 60
        # The worker's cancelled report is stale: the job is final already.
        await handle(manager, Report("w1", outcome(cancelled.job, JobState.CANCELLED)))
        assert fake.finish_requests(job.id) == 1


async def test_a_handed_back_job_is_requeued_without_counting_the_attempt(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        job = await submit(manager, make_job())
        first = await dispatched(manager, "w1")
        await trio.sleep(START_WRITE_DELAY + 0.1)  # long enough for the start to be stored
        assert fake.jobs[job.id].attempts == 1
        await handle(manager, Heartbeat("w1", [job.id], slots=1, wait=0, draining=True))
        assert isinstance(await next_job(manager, "w1", wait=0), NoJob)
        await handle(manager, Report("w1", outcome(first, JobState.QUEUED)))
        await trio.sleep(0.1)
        # Stored too: a restart now would not count the handed-back attempt either.
        assert (fake.jobs[job.id].state, fake.jobs[job.id].attempts) == (JobState.QUEUED, 0)
        again = await dispatched(manager, "w2")
        assert (again.id, again.attempts) == (job.id, 1)


async def test_a_late_report_of_the_latest_attempt_still_counts(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake, lease_timeout=3.0) as manager:
        await submit(manager, make_job())
        first = await dispatched(manager, "w1")
        await trio.sleep(4)
        assert first.id in manager.queue
        await handle(manager, Report("w1", outcome(first, result="11", value="11")))
        assert first.id not in manager.queue
        assert fake.jobs[first.id].state is JobState.SUCCEEDED


async def test_a_report_that_cannot_be_stored_keeps_the_lease(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake, persist_timeout=5.0) as manager:
        await submit(manager, make_job())
        job = await dispatched(manager, "w1")
        fake.answering = trio.Event()
        with pytest.raises(PeerUnavailable):
            await handle(manager, Report("w1", outcome(job, result="11")))
        assert job.id in manager.leases and job.id not in manager.finals.finishing
        fake.answering.set()
        assert isinstance(await handle(manager, Report("w1", outcome(job))), Done)
        assert fake.jobs[job.id].state is JobState.SUCCEEDED
        assert manager.queue.active("ann") == 0  # retired once, when stored


async def test_a_cancelled_request_for_work_takes_no_job(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        with trio.move_on_after(1):
            await next_job(manager, "w1", wait=30)
        job = await submit(manager, make_job())
        assert job.state is JobState.QUEUED
        assert job.id in manager.queue
        assert len(manager.slots) == 0


async def test_held_requests_for_work_are_served_in_arrival_order(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        started = trio.current_time()
        got: dict[str, str] = {}

        async def ask(worker: str) -> None:
            reply = await next_job(manager, worker, wait=30)
            assert isinstance(reply, Dispatch)
            got[worker] = reply.job.id

        async with trio.open_nursery() as nursery:
            for worker in ("w1", "w2", "w3"):
                nursery.start_soon(ask, worker)
                await trio.testing.wait_all_tasks_blocked()
            jobs = [await submit(manager, make_job()) for _ in range(3)]
        assert got == {"w1": jobs[0].id, "w2": jobs[1].id, "w3": jobs[2].id}
        assert trio.current_time() < started + 30


async def test_cancel_of_a_job_unknown_in_memory_finishes_it_in_the_store(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        stray = make_job()
        fake.jobs[stray.id] = stray  # stored after our load (e.g. by an earlier life)
        reply = await handle(manager, CancelJob(stray.id))
        assert isinstance(reply, JobReply) and reply.job.state is JobState.CANCELLED
        assert fake.jobs[stray.id].state is JobState.CANCELLED
        again = await handle(manager, CancelJob(stray.id))
        assert again == reply
        assert fake.finish_requests(stray.id) == 1


async def test_idempotent_submit_does_not_queue_twice(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        job = make_job(idempotency_key="k1")
        first = await submit(manager, job)
        second = await submit(manager, msgspec.structs.replace(make_job(), idempotency_key="k1"))
        assert second.id == first.id
        assert len(manager.queue) == 1
        assert manager.queue.active("ann") == 1


async def test_a_report_of_a_superseded_attempt_is_ignored(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, lease_timeout=3.0) as manager:
        job = await submit(manager, make_job())
        first = await dispatched(manager, "w1")
        await trio.sleep(4)  # w1 is lost; the job goes to w2
        second = await dispatched(manager, "w2")
        assert second.attempts == 2
        await handle(manager, Report("w1", outcome(first, JobState.FAILED, error="late")))
        assert fake.finish_requests(job.id) == 0
        assert manager.leases.get(job.id) is not None
        await handle(manager, Report("w2", outcome(second, result="11")))
        assert fake.jobs[job.id].result == "11"
        assert fake.finish_requests(job.id) == 1


async def test_a_draining_worker_gets_no_more_work(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        started = trio.current_time()
        replies: list[Dispatch | NoJob] = []

        async def ask() -> None:
            replies.append(await next_job(manager, "w1", wait=30))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            await handle(manager, Heartbeat("w1", [], slots=1, wait=0, draining=True))
        assert replies == [NoJob()]
        assert trio.current_time() < started + 30
        job = await submit(manager, make_job())
        assert job.id in manager.queue
        assert isinstance(await next_job(manager, "w1", wait=0), NoJob)


async def test_a_dead_workers_held_requests_are_dropped(autojump_clock: MockClock) -> None:
    fake = fake_with_function()
    async with open_manager(fake, lease_timeout=3.0) as manager:
        replies: list[Dispatch | NoJob] = []

        async def ask() -> None:
            replies.append(await next_job(manager, "w1", wait=30))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await trio.sleep(4)  # w1 sends no heartbeat: dead
            job = await submit(manager, make_job())
        assert replies == [NoJob()]
        assert job.id in manager.queue


async def test_cancelled_while_storing_leaves_jobs_where_they_were(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        queued = await submit(manager, make_job())
        await submit(manager, make_job())
        running = await dispatched(manager, "w1")
        assert running.id == queued.id
        waiting = (await submit(manager, make_job())).id
        fake.answering = trio.Event()  # every store hangs from here on
        with trio.move_on_after(1):
            await handle(manager, Report("w1", outcome(running, result="11")))
        assert running.id in manager.leases and running.id not in manager.finals.finishing
        with trio.move_on_after(1):
            await handle(manager, CancelJob(waiting))
        assert waiting in manager.queue and waiting not in manager.finals.finishing
        with trio.move_on_after(1):
            await handle(manager, CancelJob(running.id))
        lease = manager.leases.get(running.id)
        assert lease is not None and lease.worker == "w1"
        assert manager.queue.active("ann") == 3


async def test_a_dispatch_is_stored_only_if_the_job_still_runs_after_the_delay(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake) as manager:
        quick = await submit(manager, make_job())
        slow = await submit(manager, make_job())
        quick_run = await dispatched(manager, "w1")
        slow_run = await dispatched(manager, "w1")
        await handle(manager, Report("w1", outcome(quick_run)))
        assert fake.jobs[slow.id].state is JobState.QUEUED  # not yet written
        await trio.sleep(START_WRITE_DELAY + 0.1)
        starts = [r.id for r in fake.requests if isinstance(r, StartJob)]
        assert starts == [slow.id]
        stored = fake.jobs[slow.id]
        assert (stored.state, stored.attempts, stored.worker) == (JobState.RUNNING, 1, "w1")
        assert fake.jobs[quick.id].state is JobState.SUCCEEDED
        await handle(manager, Report("w1", outcome(slow_run)))
        assert fake.jobs[slow.id].state is JobState.SUCCEEDED


async def test_a_deferred_start_of_a_superseded_attempt_is_not_written(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, dispatch_grace=0.1) as manager:
        job = await submit(manager, make_job())
        await dispatched(manager, "w1")
        beat = Heartbeat("w1", running=[], slots=1, wait=0)
        await trio.sleep(0.2)
        await handle(manager, beat)
        await handle(manager, beat)  # w1 lost it: requeued
        again = await dispatched(manager, "w2")
        await trio.sleep(START_WRITE_DELAY + 0.1)
        starts = [(r.id, r.attempt, r.worker) for r in fake.requests if isinstance(r, StartJob)]
        assert starts == [(job.id, again.attempts, "w2")]


async def test_a_dispatch_its_worker_never_got_is_requeued_at_once(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    async with open_manager(fake, lease_timeout=3.0) as manager:
        job = await submit(manager, make_job())
        reply = await next_job(manager, "w1")
        assert isinstance(reply, Dispatch)
        # A late undelivered reply of an older attempt, or to another worker, changes nothing.
        take_back_undelivered(manager, NextJob("w2", 1.0), reply)
        stale = msgspec.structs.replace(reply, job=msgspec.structs.replace(reply.job, attempts=7))
        take_back_undelivered(manager, NextJob("w1", 1.0), stale)
        assert job.id in manager.leases
        take_back_undelivered(manager, NextJob("w1", 1.0), reply)
        assert job.id not in manager.leases and job.id in manager.queue
        again = await dispatched(manager, "w2")
        assert (again.id, again.attempts) == (job.id, 1)  # the lost dispatch did not count


async def test_submissions_past_the_users_rate_are_refused_and_a_resubmission_is_free(
    autojump_clock: MockClock,
) -> None:
    fake = fake_with_function()
    fake.add_function(make_function(user="bob"))
    async with open_manager(fake, user_rate=3.0) as manager:
        first = await submit(manager, make_job())
        for _ in range(2):
            await submit(manager, make_job())
        again = await submit(manager, first)  # known: answered, not counted
        assert again.id == first.id
        with pytest.raises(TooManyRequests) as refused:
            await submit(manager, make_job())
        assert refused.value.retry_after == pytest.approx(20.0)
        await submit(manager, make_job(user="bob"))  # per user
        await trio.sleep(20.0)
        await submit(manager, make_job())
