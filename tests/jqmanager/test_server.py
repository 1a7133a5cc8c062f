"""The jqmanager over real RPC, against a fake dbmanager and fake workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
import trio

from faas_trio.core.errors import BadRequest, PeerUnavailable, TooManyRequests
from faas_trio.core.messages import (
    CancelJob,
    Commands,
    CreateJob,
    Dispatch,
    Done,
    GetStats,
    Heartbeat,
    JobReply,
    NextJob,
    Ping,
    Pong,
    Report,
    Stats,
    Submit,
    WaitJob,
)
from faas_trio.core.records import JobRecord, JobState, Outcome
from faas_trio.core.rpc import Client, open_client, serve_rpc
from faas_trio.jqmanager import JqManagerConfig, serve
from tests.records import submission_of

from .jq_fakes import FakeDbManager, make_function, make_job


@dataclass
class Platform:
    jq: Client
    fake: FakeDbManager
    db_scope: trio.CancelScope

    async def submit(self, job: JobRecord, wait: float = 0.0) -> JobRecord:
        reply = await self.jq.call(Submit(submission_of(job), wait))
        assert isinstance(reply, JobReply)
        return reply.job

    async def dispatched(self, worker: str, wait: float = 5.0) -> Dispatch:
        reply = await self.jq.call(NextJob(worker, wait))
        assert isinstance(reply, Dispatch)
        return reply

    async def report(self, worker: str, job: JobRecord, state: JobState, **fields: Any) -> None:
        outcome = Outcome(job_id=job.id, attempt=job.attempts, state=state, **fields)
        assert isinstance(await self.jq.call(Report(worker, outcome)), Done)

    async def stats(self) -> Stats:
        reply = await self.jq.call(GetStats())
        assert isinstance(reply, Stats)
        return reply


async def _serve_db(
    fake: FakeDbManager,
    *,
    task_status: trio.TaskStatus[tuple[str, trio.CancelScope]] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(partial(serve_rpc, "tcp://127.0.0.1:*", fake.handle))
            task_status.started((url, scope))


@asynccontextmanager
async def platform(fake: FakeDbManager | None = None, **settings: Any) -> AsyncIterator[Platform]:
    if fake is None:
        fake = FakeDbManager()
        fake.add_function(make_function())
    async with trio.open_nursery() as nursery:
        db_url, db_scope = await nursery.start(_serve_db, fake)
        config = JqManagerConfig(bind="tcp://127.0.0.1:*", db_url=db_url, **settings)
        jq_url = await nursery.start(partial(serve, config))
        async with open_client(jq_url, name="test") as jq:
            yield Platform(jq, fake, db_scope)
        nursery.cancel_scope.cancel()


async def test_a_waiting_worker_gets_a_job_submitted_later() -> None:
    async with platform() as p:
        got: list[Dispatch] = []

        async def worker() -> None:
            got.append(await p.dispatched("w1", wait=10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker)
            assert await p.jq.call(Ping()) == Pong("jqmanager")
            job = await p.submit(make_job())
        assert got[0].job.id == job.id
        assert (got[0].job.state, got[0].job.attempts, got[0].job.worker) == (
            JobState.RUNNING, 1, "w1"
        )
        assert got[0].function.name == "add"


async def test_submit_with_wait_answers_the_final_record() -> None:
    async with platform() as p:

        async def worker() -> None:
            dispatch = await p.dispatched("w1")
            await p.report(
                "w1", dispatch.job, JobState.SUCCEEDED, result="11", value="11",
                duration_ms=2.5, logs="hello\n",
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker)
            final = await p.submit(make_job(), wait=10)
        assert (final.state, final.result, final.value, final.worker) == (
            JobState.SUCCEEDED, "11", "11", "w1"
        )
        assert p.fake.jobs[final.id] == final
        assert p.fake.logs[final.id] == "hello\n"
        assert p.fake.execution_ms["ann"] == 2.5
        stats = await p.stats()
        assert (stats.queued, stats.running) == (0, 0)


async def test_a_stale_report_does_not_finish_twice() -> None:
    async with platform() as p:
        job = await p.submit(make_job())
        dispatch = await p.dispatched("w1")
        await p.report("w1", dispatch.job, JobState.SUCCEEDED, result="11")
        await p.report("w1", dispatch.job, JobState.FAILED, error="boom")  # a resend
        await p.report("w2", dispatch.job, JobState.FAILED, error="boom")  # not its lease
        assert p.fake.finish_requests(job.id) == 1
        reply = await p.jq.call(WaitJob(job.id, 0))
        assert isinstance(reply, JobReply) and reply.job.result == "11"


async def test_cancel_a_queued_job() -> None:
    async with platform() as p:
        job = await p.submit(make_job())
        reply = await p.jq.call(CancelJob(job.id))
        assert isinstance(reply, JobReply)
        assert (reply.job.state, reply.job.result) == (JobState.CANCELLED, "cancelled")
        assert p.fake.jobs[job.id].state is JobState.CANCELLED
        assert (await p.stats()).queued == 0


async def test_cancel_a_running_job_reaches_its_worker_through_the_heartbeat() -> None:
    async with platform() as p:
        job = await p.submit(make_job())
        dispatch = await p.dispatched("w1")
        commands: list[Commands] = []

        async def heartbeat() -> None:
            reply = await p.jq.call(Heartbeat("w1", [job.id], slots=1, wait=20), timeout=30)
            assert isinstance(reply, Commands)
            commands.append(reply)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(heartbeat)
            await p.jq.call(Ping())
            reply = await p.jq.call(CancelJob(job.id))
        assert isinstance(reply, JobReply) and reply.job.state is JobState.CANCELLED
        assert commands == [Commands(cancel=[job.id])]
        await p.report("w1", dispatch.job, JobState.CANCELLED, error="killed")
        assert p.fake.finish_requests(job.id) == 1
        assert p.fake.jobs[job.id].error == "cancelled by user"


async def test_a_dead_worker_loses_its_job_until_it_fails_as_worker_lost() -> None:
    async with platform(lease_timeout=0.3, check_interval=0.05, max_attempts=2) as p:

        async def workers() -> None:
            await p.dispatched("w1")  # and then never heard from again
            await p.dispatched("w2")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(workers)
            final = await p.submit(make_job(), wait=10)
        assert (final.state, final.error, final.attempts) == (JobState.FAILED, "worker lost", 2)
        assert p.fake.jobs[final.id].state is JobState.FAILED


async def test_unfinished_jobs_are_loaded_at_start() -> None:
    fake = FakeDbManager()
    fake.add_function(make_function())
    stored = make_job()
    fake.jobs[stored.id] = stored
    async with platform(fake) as p:
        assert (await p.dispatched("w1")).job.id == stored.id


async def test_limits_answer_too_many_requests() -> None:
    async with platform(user_max_active=2) as p:
        await p.submit(make_job())
        await p.submit(make_job())
        with pytest.raises(TooManyRequests) as caught:
            await p.submit(make_job())
        assert caught.value.retry_after == 1.0
        p.fake.add_function(make_function(user="bob"))
        await p.submit(make_job(user="bob"))  # other users are not held back
    async with platform(max_queue=1) as p:
        await p.submit(make_job())
        with pytest.raises(TooManyRequests):
            await p.submit(make_job())


async def test_submit_answers_peer_unavailable_when_the_dbmanager_is_down() -> None:
    async with platform(db_timeout=0.3) as p:
        await p.stats()
        await p.jq.call(Ping())
        p.db_scope.cancel()
        with pytest.raises(PeerUnavailable) as caught:
            await p.submit(make_job())
        # Raised by the jqmanager's own bounded call, not by this client's timeout.
        assert "CreateJob" in str(caught.value)
        assert (await p.stats()).queued == 0


async def test_a_message_it_does_not_serve_is_a_bad_request() -> None:
    async with platform() as p:
        with pytest.raises(BadRequest):
            await p.jq.call(CreateJob(submission_of(make_job())))
        stats = await p.stats()
        assert (stats.queued, stats.running, stats.workers, stats.slots) == (0, 0, 0, 0)
        await p.jq.call(Heartbeat("w1", [], slots=4, wait=0))
        stats = await p.stats()
        assert (stats.workers, stats.slots) == (1, 4)


async def test_main_exits_cleanly_on_sigterm() -> None:
    env = {**os.environ, "PORT": "0", "DB_URL": "tcp://127.0.0.1:9", "FAAS_LOG_LEVEL": "INFO"}
    async with trio.open_nursery() as nursery:
        proc: trio.Process = await nursery.start(
            partial(
                trio.run_process, [sys.executable, "-m", "faas_trio.jqmanager"],
                env=env, stderr=subprocess.PIPE, check=False,
            )
        )
        assert proc.stderr is not None
        seen = b""
        with trio.fail_after(20):
            while b"listening" not in seen:
                chunk = await proc.stderr.receive_some()
                assert chunk, seen
                seen += chunk
            proc.send_signal(signal.SIGTERM)
            nursery.start_soon(proc.stderr.aclose)
            assert await proc.wait() == 0
