"""The dbmanager's door: a write the database cannot hold is clamped or refused at once,
through real RPC to a real SQLite store, and never becomes a write that fails forever."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import trio

from faas_trio.core.errors import BadRequest
from faas_trio.core.messages import (
    Changed,
    CreateJob,
    FinishJob,
    GetJob,
    GetUser,
    JobCreated,
    JobReply,
    PutFunction,
    PutUser,
    RequeueJob,
    StartJob,
    UserReply,
)
from faas_trio.core.records import JobState
from faas_trio.core.rpc import Client, open_client
from faas_trio.dbmanager import serve
from faas_trio.dbmanager.admission import admitted
from tests.records import submission_of

from .test_server import ADD, config_for, new_job


@pytest.fixture
async def client(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Client]:
    endpoint = await nursery.start(serve, config_for(tmp_path))
    async with open_client(endpoint, name="test") as connected:
        await connected.call(PutUser(name="ann"), timeout=10)
        await connected.call(PutFunction(function=ADD), timeout=10)
        yield connected


async def test_a_finish_with_bad_numbers_is_stored_clamped(client: Client) -> None:
    created = await client.call(CreateJob(submission_of(new_job(1))), timeout=10)
    assert isinstance(created, JobCreated)
    assert await client.call(
        StartJob(id=created.job.id, attempt=1, worker="w", started_at=math.nan), timeout=10
    ) == Changed(applied=True)
    finished = msgspec.structs.replace(
        created.job, state=JobState.SUCCEEDED, result="x", value="[1e999]", attempts=1,
        duration_ms=math.nan, init_ms=-5.0, started_at=math.inf, finished_at=2.0,
    )  # fmt: skip
    with trio.fail_after(10):
        assert await client.call(FinishJob(job=finished), timeout=10) == Changed(applied=True)
    stored = await client.call(GetJob(id=created.job.id), timeout=10)
    assert isinstance(stored, JobReply)
    assert (stored.job.state, stored.job.value) == (JobState.FAILED, None)
    assert (stored.job.duration_ms, stored.job.init_ms, stored.job.started_at) == (None, 0.0, None)
    user = await client.call(GetUser(name="ann"), timeout=10)
    assert isinstance(user, UserReply) and user.user.execution_time_ms == 0.0


@pytest.mark.parametrize(
    "args", ["[" * 100 + "]" * 100, "[1" + "0" * 30 + "]", "[NaN]", "[" * 5000]
)
async def test_a_job_whose_arguments_cannot_be_stored_is_refused(client: Client, args: str) -> None:
    with trio.fail_after(10), pytest.raises(BadRequest, match="arguments cannot be stored"):
        submission = msgspec.structs.replace(submission_of(new_job(2)), args=args)
        await client.call(CreateJob(submission), timeout=10)


def test_sound_writes_pass_untouched() -> None:
    for write in (
        CreateJob(submission_of(new_job(3))),
        StartJob(id="0" * 24, attempt=1, worker="w", started_at=5.0),
        RequeueJob(id="0" * 24, attempts=2),
        FinishJob(job=new_job(3, state=JobState.FAILED, duration_ms=3.0)),
    ):
        assert admitted(write) is write
    assert admitted(RequeueJob(id="0" * 24, attempts=1 << 80)).attempts == 1 << 31
