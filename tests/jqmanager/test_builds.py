"""Jobs of a function whose environment is being built wait for the build
(faas_trio/jqmanager/builds.py), on trio's autojump clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import trio
from trio.testing import MockClock

from faas_trio.core.errors import NotFound
from faas_trio.core.messages import (
    CancelJob,
    Dispatch,
    FunctionReply,
    JobReply,
    Message,
    NoJob,
    WaitBuild,
)
from faas_trio.core.records import Build, BuildState, JobState
from faas_trio.jqmanager.handlers import handle

from .jq_fakes import FakeDbManager, make_function, make_job
from .test_manager import next_job, open_manager, submit


@dataclass
class BuildingDb(FakeDbManager):
    """A dbmanager whose function ``ann/add`` v1 is being built until :meth:`finish`."""

    built: trio.Event = field(default_factory=trio.Event)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.add_function(msgspec.structs.replace(make_function(), build=Build()))

    def finish(self, build: Build, version: int = 1) -> None:
        function = self.functions[("ann", "add")]
        self.functions[("ann", "add")] = msgspec.structs.replace(
            function, build=build, version=version
        )
        self.built.set()

    async def handle(self, request: Message) -> Message:
        if not isinstance(request, WaitBuild):
            return await super().handle(request)
        self.requests.append(request)
        with trio.move_on_after(request.wait):
            await self.built.wait()
        function = self.functions.get((request.user, request.name))
        if function is None:
            raise NotFound("no function")
        return FunctionReply(function)


READY = Build(state=BuildState.READY, env="e1", resolved=["a==1 --hash=sha256:00"])


async def test_a_job_waits_in_the_queue_until_the_build_is_ready(
    autojump_clock: MockClock,
) -> None:
    fake = BuildingDb()
    async with open_manager(fake) as manager:
        job = await submit(manager, make_job())
        assert job.state is JobState.QUEUED
        assert manager.known(job.id) is not None
        assert isinstance(await next_job(manager, "w1", wait=100.0), NoJob)
        assert any(isinstance(r, WaitBuild) for r in fake.requests)  # held, renewed
        fake.finish(READY)
        dispatch = await next_job(manager, "w1", wait=5.0)
        assert isinstance(dispatch, Dispatch) and dispatch.job.id == job.id
        assert dispatch.function.build == READY


async def test_a_failed_build_fails_the_waiting_jobs(autojump_clock: MockClock) -> None:
    fake = BuildingDb()
    async with open_manager(fake) as manager:
        job = await submit(manager, make_job())
        fake.finish(Build(state=BuildState.FAILED, error="no wheel of foo"))
        settled = await manager.wait(job.id, 10.0)
        assert settled.state is JobState.FAILED
        assert settled.error == "BuildFailed: its environment did not build: no wheel of foo"
        assert fake.jobs[job.id].state is JobState.FAILED
        # A job submitted after the build failed fails at once, the same way.
        later = await manager.wait((await submit(manager, make_job())).id, 10.0)
        assert later.state is JobState.FAILED and "no wheel of foo" in (later.error or "")


async def test_a_waiting_job_can_be_cancelled(autojump_clock: MockClock) -> None:
    fake = BuildingDb()
    async with open_manager(fake) as manager:
        job = await submit(manager, make_job())
        reply = await handle(manager, CancelJob(job.id))
        assert isinstance(reply, JobReply) and reply.job.state is JobState.CANCELLED
        fake.finish(READY)
        assert isinstance(await next_job(manager, "w1", wait=5.0), NoJob)
        assert manager.queue.active("ann") == 0


async def test_a_function_registered_again_fails_the_jobs_of_the_old_version(
    autojump_clock: MockClock,
) -> None:
    fake = BuildingDb()
    async with open_manager(fake) as manager:
        job = await submit(manager, make_job())
        fake.finish(Build(), version=2)
        settled = await manager.wait(job.id, 10.0)
        assert settled.state is JobState.FAILED and "registered again" in (settled.error or "")
