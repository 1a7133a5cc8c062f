"""The whole worker against a fake jqmanager served over real RPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec
import pytest
import trio

from faas_trio.core.errors import InternalError, PeerUnavailable
from faas_trio.core.messages import (
    Commands,
    Dispatch,
    Done,
    Heartbeat,
    Message,
    NextJob,
    NoJob,
    Report,
)
from faas_trio.core.records import JobState, Outcome, Runtime
from faas_trio.core.rpc import serve_rpc
from faas_trio.worker import WorkerConfig, serve
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .conftest import MakeDispatch, children_of, needs_node, sandbox_pids


@dataclass
class FakeJq:
    """Hands out queued dispatches, records heartbeats and reports, delivers cancels."""

    queue_send: trio.MemorySendChannel[Dispatch]
    queue_receive: trio.MemoryReceiveChannel[Dispatch]
    reports_send: trio.MemorySendChannel[Report]
    reports: trio.MemoryReceiveChannel[Report]
    heartbeats: list[Heartbeat] = field(default_factory=list)
    beat: trio.Event = field(default_factory=trio.Event)
    cancels: list[str] = field(default_factory=list)
    cancel_ready: trio.Event = field(default_factory=trio.Event)
    #: Answer this many Reports with PeerUnavailable, then Done.
    refuse_reports: int = 0
    #: Answer this many NextJobs with an internal error first.
    fail_next_jobs: int = 0
    report_attempts: int = 0

    async def handle(self, request: Message) -> Message:
        if isinstance(request, NextJob):
            if self.fail_next_jobs > 0:
                self.fail_next_jobs -= 1
                raise InternalError("jqmanager hiccup")
            with trio.move_on_after(request.wait):
                return await self.queue_receive.receive()
            return NoJob()
        if isinstance(request, Heartbeat):
            self.heartbeats.append(request)
            self.beat.set()
            self.beat = trio.Event()
            if not self.cancels:
                with trio.move_on_after(min(request.wait, 0.1)):
                    await self.cancel_ready.wait()
            cancel, self.cancels = self.cancels, []
            self.cancel_ready = trio.Event()
            return Commands(cancel=cancel)
        if isinstance(request, Report):
            self.report_attempts += 1
            if self.refuse_reports > 0:
                self.refuse_reports -= 1
                raise PeerUnavailable("database down")
            for outcome in (request.outcome, *request.more):  # one Report may carry a batch
                await self.reports_send.send(Report(request.worker, outcome))
            return Done()
        raise AssertionError(f"unexpected {request!r}")

    def cancel(self, job_id: str) -> None:
        self.cancels.append(job_id)
        self.cancel_ready.set()

    async def wait_until_running(self, job_id: str) -> None:
        with trio.fail_after(10):
            while not (self.heartbeats and job_id in self.heartbeats[-1].running):
                await self.beat.wait()

    async def next_report(self) -> Outcome:
        with trio.fail_after(15):
            report = await self.reports.receive()
        return report.outcome


@pytest.fixture
async def jq(nursery: trio.Nursery) -> tuple[FakeJq, str]:
    queue_send, queue_receive = trio.open_memory_channel[Dispatch](100)
    reports_send, reports = trio.open_memory_channel[Report](100)
    fake = FakeJq(queue_send, queue_receive, reports_send, reports)
    endpoint: str = await nursery.start(serve_rpc, "tcp://127.0.0.1:*", fake.handle)
    return fake, endpoint


@dataclass
class RunningWorker:
    id: str
    scope: trio.CancelScope
    stopped: trio.Event

    async def stop(self) -> None:
        """Cancel the worker (it drains) and wait until serve has returned."""
        self.scope.cancel()
        with trio.fail_after(15):
            await self.stopped.wait()


StartWorker = Callable[..., Awaitable[RunningWorker]]


@pytest.fixture
def start_worker(
    nursery: trio.Nursery, jq: tuple[FakeJq, str], settings: SpawnSettings, tmp_path: Path
) -> StartWorker:
    """Start a worker (2 slots, 0.5 s drain) against the fake jqmanager."""

    async def start(**overrides: object) -> RunningWorker:
        config = WorkerConfig(
            jq_url=jq[1],
            concurrency=2,
            drain_timeout=0.5,
            sandbox_python=settings.python,
            node=settings.node,
            scratch_dir=tmp_path / "scratch",
            log_cap=4096,
        )
        config = replace(config, **overrides)  # type: ignore[arg-type]

        async def run(task_status: trio.TaskStatus[RunningWorker]) -> None:
            stopped = trio.Event()
            try:
                with trio.CancelScope() as scope:
                    async with trio.open_nursery() as inner:
                        worker_id = await inner.start(serve, config)
                        task_status.started(RunningWorker(worker_id, scope, stopped))
            finally:
                stopped.set()

        worker: RunningWorker = await nursery.start(run)
        return worker

    return start


async def test_runs_jobs_and_reports_them(
    jq: tuple[FakeJq, str], start_worker: StartWorker, make_dispatch: MakeDispatch
) -> None:
    fake, _ = jq
    worker = await start_worker()
    worker_id = worker.id
    source = "def add(a, b):\n    print('adding')\n    return a + b\n"
    dispatch = make_dispatch(source, "[4, 7]", version=1)
    await fake.queue_send.send(dispatch)
    outcome = await fake.next_report()
    assert (outcome.job_id, outcome.state, outcome.result) == (
        dispatch.job.id,
        JobState.SUCCEEDED,
        "11",
    )
    assert outcome.logs == "adding\n" and outcome.cold_start
    await fake.queue_send.send(make_dispatch(source, "[1, 2]", version=1))
    again = await fake.next_report()
    assert (again.result, again.cold_start, again.logs) == ("3", False, "adding\n")
    assert worker_id.count("-") >= 2 and all(b.worker == worker_id for b in fake.heartbeats)
    assert fake.heartbeats[-1].slots == 2


@needs_node
async def test_a_batch_runs_back_to_back_in_one_child_and_every_outcome_is_reported(
    jq: tuple[FakeJq, str], start_worker: StartWorker, make_dispatch: MakeDispatch
) -> None:
    fake, _ = jq
    await start_worker(concurrency=1)
    source = "import os\ndef pid(n):\n    return [n, os.getpid()]\n"
    first = make_dispatch(source, "[0]", version=3)
    more = [
        msgspec.structs.replace(make_dispatch(source, f"[{n}]", version=3).job)
        for n in range(1, 6)
    ]
    await fake.queue_send.send(msgspec.structs.replace(first, more=more))
    outcomes = [await fake.next_report() for _ in range(6)]
    assert sorted(o.job_id for o in outcomes) == sorted([first.job.id, *(j.id for j in more)])
    assert all(o.state is JobState.SUCCEEDED for o in outcomes)
    values = sorted(msgspec.json.decode(o.value or "null") for o in outcomes)
    assert [v[0] for v in values] == [0, 1, 2, 3, 4, 5]
    assert len({v[1] for v in values}) == 1  # one warm child ran them all


async def test_runs_node_jobs(
    jq: tuple[FakeJq, str], start_worker: StartWorker, make_dispatch: MakeDispatch
) -> None:
    fake, _ = jq
    await start_worker()
    source = (
        "async function add(a, b) { await new Promise((r) => setTimeout(r, 50)); return a + b; }"
    )
    await fake.queue_send.send(make_dispatch(source, "[4, 7]", runtime=Runtime.NODE, name="add"))
    outcome = await fake.next_report()
    assert (outcome.state, outcome.result) == (JobState.SUCCEEDED, "11")


async def test_cancel_command_kills_the_job_and_reports_cancelled(
    jq: tuple[FakeJq, str], start_worker: StartWorker, make_dispatch: MakeDispatch
) -> None:
    fake, _ = jq
    before = sandbox_pids()
    await start_worker()
    dispatch = make_dispatch("import time\ndef f():\n    time.sleep(60)\n")
    await fake.queue_send.send(dispatch)
    await fake.wait_until_running(dispatch.job.id)
    fake.cancel(dispatch.job.id)
    outcome = await fake.next_report()
    assert (outcome.job_id, outcome.state, outcome.result) == (
        dispatch.job.id,
        JobState.CANCELLED,
        "cancelled",
    )
    assert sandbox_pids() <= before  # the child was killed and reaped


async def test_report_is_resent_until_done(
    jq: tuple[FakeJq, str], start_worker: StartWorker, make_dispatch: MakeDispatch
) -> None:
    fake, _ = jq
    fake.refuse_reports = 3
    fake.fail_next_jobs = 2
    await start_worker()
    await fake.queue_send.send(make_dispatch("def f():\n    return 'ok'\n"))
    outcome = await fake.next_report()
    assert outcome.result == "ok"
    assert fake.report_attempts == 4


async def started_runners(before: set[int], count: int) -> list[int]:
    """The runners of ``count`` sandboxes started since ``before`` (a job is running before
    its sandbox has started)."""
    with trio.fail_after(10):
        while True:
            runners = [runner for keeper in sandbox_pids() - before for runner in
                       children_of(keeper)]  # fmt: skip
            if len(runners) >= count:
                return runners
            await trio.sleep(0.01)


async def test_cancel_drains_running_jobs_then_hands_back_the_rest(
    jq: tuple[FakeJq, str], start_worker: StartWorker, make_dispatch: MakeDispatch, tmp_path: Path
) -> None:
    fake, _ = jq
    before = sandbox_pids()
    worker = await start_worker(drain_timeout=1.0)
    # The sandbox sees only its own scratch directory (a tmpfs only its mount namespace
    # shows): the test drops the file there, through the runner's cwd.
    waits_for_release = (
        "import os, time\n"
        "def f():\n"
        "    while not os.path.exists('release'):\n"
        "        time.sleep(0.01)\n"
        "    return 'quick'\n"
    )
    quick = make_dispatch(waits_for_release)
    slow = make_dispatch("import time\ndef f():\n    time.sleep(60)\n")
    await fake.queue_send.send(quick)
    await fake.queue_send.send(slow)
    await fake.wait_until_running(quick.job.id)
    await fake.wait_until_running(slow.job.id)
    runners = await started_runners(before, 2)
    async with trio.open_nursery() as stopping:
        stopping.start_soon(worker.stop)
        for runner in runners:  # the quick job finishes while the worker drains
            await trio.Path(f"/proc/{runner}/cwd/release").touch()
        outcomes = {o.job_id: o for o in [await fake.next_report(), await fake.next_report()]}
    assert any(beat.draining for beat in fake.heartbeats)
    assert outcomes[quick.job.id].state is JobState.SUCCEEDED
    assert outcomes[slow.job.id].state is JobState.QUEUED
    assert outcomes[slow.job.id].attempt == slow.job.attempts
    assert sandbox_pids() <= before  # every child killed and reaped before serve returned
    assert list((tmp_path / "scratch").iterdir()) == []


async def test_idle_worker_stops_promptly(
    jq: tuple[FakeJq, str], start_worker: StartWorker
) -> None:
    worker = await start_worker()
    with trio.fail_after(3):
        await worker.stop()
