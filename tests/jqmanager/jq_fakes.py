"""Test doubles for the jqmanager's neighbours: a dbmanager holding jobs in a dict (served over
real RPC, or called in process), and helpers to build jobs and functions."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import msgspec
import trio

from faas_trio.core.errors import BadRequest, NotFound, PeerUnavailable
from faas_trio.core.groups import group_jobs
from faas_trio.core.messages import (
    Changed,
    ChangedMany,
    CreateGroup,
    CreateJob,
    FinishJob,
    FinishJobs,
    FunctionReply,
    GetFunction,
    GetJob,
    GroupCreated,
    JobCreated,
    JobReply,
    Message,
    Ping,
    Pong,
    RequeueJob,
    StartJob,
    UnfinishedJobs,
    UnfinishedReply,
)
from faas_trio.core.records import Function, GroupRecord, JobRecord, JobState, Runtime
from faas_trio.store.base import created_job

_ids = itertools.count(1)


def make_function(user: str = "ann", name: str = "add", version: int = 1) -> Function:
    return Function(
        user=user, name=name, source="def add(a, b):\n    return a + b\n",
        runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64, version=version,
    )


def make_job(user: str = "ann", function: str = "add", **fields: object) -> JobRecord:
    n = next(_ids)
    job = JobRecord(
        id=f"{n:024x}", user=user, function=function, runtime=Runtime.PYTHON, args="[4, 7]",
        created_at=float(n),
    )
    return msgspec.structs.replace(job, **fields)


@dataclass
class FakeDbManager:
    """The dbmanager's job and function requests over dicts, with the store's conditional
    semantics. ``requests`` lists every request received, in order."""

    functions: dict[tuple[str, str], Function] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    groups: dict[str, GroupRecord] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    execution_ms: dict[str, float] = field(default_factory=dict)
    requests: list[Message] = field(default_factory=list)
    #: Cleared to make the fake stop answering (in-process calls then time out).
    answering: trio.Event = field(default_factory=trio.Event)

    def __post_init__(self) -> None:
        self.answering.set()

    def add_function(self, function: Function) -> Function:
        self.functions[(function.user, function.name)] = function
        return function

    async def handle(self, request: Message) -> Message:
        await self.answering.wait()
        self.requests.append(request)
        return self.answer(request)

    def answer(self, request: Message) -> Message:
        match request:
            case Ping():
                return Pong("dbmanager")
            case CreateJob(submission=submission):
                function = self.functions.get((submission.user, submission.function))
                if function is None:
                    raise NotFound(f"no function {submission.user}/{submission.function}")
                job = created_job(submission, function, time.time())
                stored = self.jobs.get(job.id)
                if stored is None and job.idempotency_key is not None:
                    stored = next(
                        (j for j in self.jobs.values()
                         if j.user == job.user and j.idempotency_key == job.idempotency_key),
                        None,
                    )
                if stored is not None:
                    return JobCreated(stored, function, existing=True)
                self.jobs[job.id] = job
                return JobCreated(job, function)
            case StartJob(id=job_id, attempt=attempt, worker=worker, started_at=started_at):
                job = self._job(job_id)
                if job.state is not JobState.QUEUED:
                    return Changed(False)
                self.jobs[job_id] = msgspec.structs.replace(
                    job, state=JobState.RUNNING, attempts=attempt, worker=worker,
                    started_at=started_at,
                )
                return Changed(True)
            case RequeueJob(id=job_id, error=error, attempts=attempts):
                job = self._job(job_id)
                if job.state is not JobState.RUNNING:
                    return Changed(False)
                self.jobs[job_id] = msgspec.structs.replace(
                    job, state=JobState.QUEUED, error=error or job.error, worker=None,
                    attempts=job.attempts if attempts is None else attempts,
                )
                return Changed(True)
            case FinishJob(job=final, logs=logs):
                job = self._job(final.id)
                if job.is_final:
                    return Changed(False)
                self.jobs[final.id] = final
                self.logs[final.id] = logs
                self.execution_ms[final.user] = (
                    self.execution_ms.get(final.user, 0.0) + (final.duration_ms or 0.0)
                )
                return Changed(True)
            case FinishJobs(finishes=finishes):
                applied: list[bool | None] = []
                for finish in finishes:
                    try:
                        reply = self.answer(finish)
                    except NotFound:
                        applied.append(None)
                    else:
                        assert isinstance(reply, Changed)
                        applied.append(reply.applied)
                return ChangedMany(applied)
            case CreateGroup(group=group, args=args):
                function = self.functions.get((group.user, group.function))
                if function is None:
                    raise NotFound(f"no function {group.user}/{group.function}")
                if group.id in self.groups:
                    stored = self.groups[group.id]
                    items = [j for j in self.jobs.values() if j.group_id == group.id]
                    unfinished = sorted((j for j in items if not j.is_final),
                                        key=lambda j: j.group_index or 0)  # fmt: skip
                    return GroupCreated(stored, function, existing=True, unfinished=unfinished)
                self.groups[group.id] = group
                for job in group_jobs(group, args, function):
                    self.jobs[job.id] = job
                return GroupCreated(group, function)
            case GetJob(id=job_id):
                return JobReply(self._job(job_id))
            case GetFunction(user=user, name=name):
                function = self.functions.get((user, name))
                if function is None:
                    raise NotFound(f"no function {user}/{name}")
                return FunctionReply(function)
            case UnfinishedJobs():
                jobs = sorted(
                    (j for j in self.jobs.values() if not j.is_final), key=lambda j: j.created_at
                )
                used = {(j.user, j.function) for j in jobs}
                return UnfinishedReply(
                    jobs, [f for key, f in self.functions.items() if key in used]
                )
            case _:
                raise BadRequest(f"fake dbmanager does not serve {type(request).__name__}")

    def _job(self, job_id: str) -> JobRecord:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def finish_requests(self, job_id: str) -> int:
        """How many FinishJob requests for ``job_id`` were received."""
        return sum(1 for r in self.requests if isinstance(r, FinishJob) and r.job.id == job_id)


class InProcessDb:
    """A :class:`~faas_trio.jqmanager.writes.DbClient` calling a :class:`FakeDbManager`
    directly, so that tests can run on trio's autojump clock."""

    def __init__(self, fake: FakeDbManager) -> None:
        self.fake = fake

    async def call(self, request: Message, *, timeout: float = 10.0) -> Message:  # noqa: ASYNC109
        with trio.move_on_after(timeout):
            return await self.fake.handle(request)
        raise PeerUnavailable(f"fake dbmanager did not answer {type(request).__name__}")

    async def call_retrying(
        self, request: Message, *, deadline: float, attempt_timeout: float = 1.0
    ) -> Message:
        return await self.call(request, timeout=deadline)
