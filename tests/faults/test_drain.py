"""A draining worker and the requests for work it holds at the jqmanager.

When a worker starts to drain, the jqmanager may have just handed a job to one of its held
``NextJob`` requests. The worker must tell the jqmanager it drains *before* it gives up on
those requests, and hand back any job they bring, rather than drop the reply: a dropped
dispatch leaves the job leased to a worker that never runs it, until the lease rules take it
back as a lost attempt (or, at a full stop, until after the restart).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import trio

from faas_trio.core.ids import new_job_id
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
from faas_trio.core.records import Function, JobRecord, JobState, Runtime
from faas_trio.core.rpc import serve_rpc
from faas_trio.worker import WorkerConfig, serve

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def _dispatch() -> Dispatch:
    function = Function(
        user="ann", name="f", source="def f():\n    return 1\n", runtime=Runtime.PYTHON,
        timeout=5.0, memory_mb=128, version=1,
    )  # fmt: skip
    job = JobRecord(
        id=new_job_id(), user="ann", function="f", runtime=Runtime.PYTHON, args="[]", attempts=1
    )
    return Dispatch(job=job, function=function)


class DrainingJq:
    """Holds every NextJob; on the first draining heartbeat, hands ``dispatch`` to one of the
    held requests (as a real jqmanager might have just done) and records the reports."""

    def __init__(self, dispatch: Dispatch) -> None:
        self.dispatch: Dispatch | None = dispatch
        self.held = 0
        self.all_held = trio.Event()
        self._jobs_send, self._jobs = trio.open_memory_channel[Dispatch](1)
        self.reports: list[Report] = []
        self.reported = trio.Event()

    async def handle(self, request: Message) -> Message:
        if isinstance(request, NextJob):
            self.held += 1
            if self.held >= 2:
                self.all_held.set()
            with trio.move_on_after(request.wait):
                return await self._jobs.receive()
            return NoJob()
        if isinstance(request, Heartbeat):
            if request.draining and self.dispatch is not None:
                self._jobs_send.send_nowait(self.dispatch)
                self.dispatch = None
                await trio.sleep(0.05)  # the NextJob answer leaves before this one
            return Commands()
        if isinstance(request, Report):
            self.reports.append(request)
            self.reported.set()
            return Done()
        raise AssertionError(f"unexpected {request!r}")


async def test_a_job_handed_to_a_draining_worker_is_handed_back(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    dispatch = _dispatch()
    jq = DrainingJq(dispatch)
    endpoint: str = await nursery.start(serve_rpc, "tcp://127.0.0.1:*", jq.handle)
    assert PYTHON is not None
    config = WorkerConfig(
        jq_url=endpoint, concurrency=2, drain_timeout=2.0, sandbox_python=PYTHON,
        scratch_dir=tmp_path / "scratch",
    )  # fmt: skip
    done = trio.Event()

    async def run_worker(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        try:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                await serve(config)
        finally:
            done.set()

    worker: trio.CancelScope = await nursery.start(run_worker)
    with trio.fail_after(10):
        await jq.all_held.wait()
    worker.cancel()  # drain
    with trio.fail_after(15):
        await done.wait()
    assert [(r.outcome.job_id, r.outcome.state) for r in jq.reports] == [
        (dispatch.job.id, JobState.QUEUED)
    ]
