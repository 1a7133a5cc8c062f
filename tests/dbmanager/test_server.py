"""The dbmanager over real RPC, on a SQLite file in tmp_path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing

from faas_trio.core.errors import BadRequest, NotFound, PeerUnavailable, ProtocolError
from faas_trio.core.messages import (
    Changed,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteUser,
    Done,
    FinishJob,
    FunctionReply,
    FunctionsReply,
    GetFunction,
    GetJob,
    GetLogs,
    GetStats,
    GetStoreMetrics,
    GetUser,
    JobCreated,
    JobReply,
    JobsReply,
    ListFunctions,
    ListJobs,
    LogsReply,
    Message,
    Ping,
    Pong,
    PutFunction,
    PutUser,
    StartJob,
    StoreMetrics,
    UnfinishedJobs,
    UnfinishedReply,
    UserReply,
)
from faas_trio.core.records import Function, JobRecord, JobState, Runtime
from faas_trio.core.rpc import Client, open_client
from faas_trio.dbmanager import DbManagerConfig, serve
from faas_trio.dbmanager.server import serve_store, sweep_periodically
from faas_trio.store import Store, WriteOp, WriteResult, open_store
from tests.records import submission_of

ADD = Function(
    user="ann", name="add", source="def add(a, b): return a + b", runtime=Runtime.PYTHON,
    timeout=5.0, memory_mb=64,
)  # fmt: skip


def config_for(tmp_path: Path) -> DbManagerConfig:
    return DbManagerConfig(store_url=f"sqlite://{tmp_path}/db/faas.db", bind="tcp://127.0.0.1:*")


def new_job(number: int, **fields: object) -> JobRecord:
    return JobRecord(
        id=f"{number:024x}", user="ann", function="add", runtime=Runtime.PYTHON, args="[4, 7]",
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
async def client(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Client]:
    endpoint = await nursery.start(serve, config_for(tmp_path))
    async with open_client(endpoint, name="test") as connected:
        yield connected


async def call(client: Client, request: Message) -> Message:
    return await client.call(request, timeout=10)


async def test_ping(client: Client) -> None:
    assert await call(client, Ping()) == Pong(component="dbmanager")


async def test_users_and_functions_round_trip(client: Client) -> None:
    assert await call(client, PutUser(name="ann", key_hash="h")) == Done()
    reply = await call(client, GetUser(name="ann"))
    assert isinstance(reply, UserReply) and reply.user.key_hash == "h"

    put = await call(client, PutFunction(function=ADD))
    assert isinstance(put, FunctionReply) and put.function.version == 1
    assert await call(client, GetFunction(user="ann", name="add")) == put
    assert await call(client, ListFunctions(user="ann")) == FunctionsReply(functions=[put.function])

    assert await call(client, DeleteFunction(user="ann", name="add")) == Done()
    assert await call(client, ListFunctions(user="ann")) == FunctionsReply(functions=[])
    with pytest.raises(NotFound, match="function 'add' not found for user 'ann'"):
        await call(client, GetFunction(user="ann", name="add"))
    assert await call(client, DeleteUser(name="ann")) == Done()
    with pytest.raises(NotFound, match="user 'ann' not found"):
        await call(client, GetUser(name="ann"))
    with pytest.raises(NotFound, match="user 'ann' not found"):
        await call(client, ListFunctions(user="ann"))
    with pytest.raises(NotFound, match="user 'ann' not found"):
        await call(client, DeleteUser(name="ann"))


async def test_a_job_from_creation_to_deletion(client: Client) -> None:
    await call(client, PutUser(name="ann"))
    await call(client, PutFunction(function=ADD))
    created = await call(client, CreateJob(submission_of(new_job(1))))
    assert isinstance(created, JobCreated) and not created.existing
    assert created.function.name == "add"
    job = created.job
    again = await call(client, CreateJob(submission_of(new_job(1))))
    assert isinstance(again, JobCreated) and again.existing

    unfinished = await call(client, UnfinishedJobs())
    assert unfinished == UnfinishedReply(jobs=[job], functions=[created.function])
    start = StartJob(id=job.id, attempt=1, worker="w1", started_at=2.0)
    assert await call(client, start) == Changed(applied=True)
    assert await call(client, start) == Changed(applied=False)

    outcome = msgspec.structs.replace(
        job, state=JobState.SUCCEEDED, result="11", value="11", attempts=1, worker="w1",
        started_at=2.0, finished_at=3.0, duration_ms=25.0,
    )  # fmt: skip
    assert await call(client, FinishJob(job=outcome, logs="hi\n")) == Changed(applied=True)
    assert await call(client, GetJob(id=job.id)) == JobReply(job=outcome)
    assert await call(client, GetLogs(id=job.id)) == LogsReply(logs="hi\n")
    assert await call(client, ListJobs(user="ann")) == JobsReply(jobs=[outcome])
    assert await call(client, ListJobs(user="ann", state=JobState.QUEUED)) == JobsReply(jobs=[])
    user = await call(client, GetUser(name="ann"))
    assert isinstance(user, UserReply) and user.user.execution_time_ms == 25.0

    assert await call(client, DeleteJob(id=job.id)) == Done()
    for request in (GetJob(id=job.id), GetLogs(id=job.id), DeleteJob(id=job.id)):
        with pytest.raises(NotFound, match=f"job '{job.id}' not found"):
            await call(client, request)


async def test_store_metrics_count_the_calls_to_the_database(client: Client) -> None:
    await call(client, PutUser(name="ann"))
    await call(client, GetUser(name="ann"))
    reply = await call(client, GetStoreMetrics())
    assert isinstance(reply, StoreMetrics)
    assert reply.commands_total["write"] >= 1
    assert reply.commands_total["get_user"] == 1
    assert reply.roundtrip.count == sum(reply.commands_total.values())


async def test_create_job_for_a_missing_function_is_not_found(client: Client) -> None:
    await call(client, PutUser(name="ann"))
    with pytest.raises(NotFound, match="function 'add' not found for user 'ann'"):
        await call(client, CreateJob(submission_of(new_job(1))))


class Unknown(msgspec.Struct, frozen=True, tag=True):
    """A message that is not in the schema."""

    text: str


async def test_bad_requests_get_error_replies_and_the_server_keeps_serving(
    client: Client,
) -> None:
    with pytest.raises(BadRequest, match="dbmanager does not handle GetStats"):
        await call(client, GetStats())
    with pytest.raises(BadRequest, match="limit"):
        await call(client, ListJobs(user="ann", limit=0))
    await call(client, PutUser(name="ann"))
    await call(client, PutFunction(function=ADD))
    await call(client, CreateJob(submission_of(new_job(1))))
    with pytest.raises(BadRequest, match="final state"):
        await call(client, FinishJob(job=new_job(1, state=JobState.RUNNING)))
    with pytest.raises(ProtocolError):
        await call(client, Unknown(text="hello"))  # type: ignore[arg-type]
    assert await call(client, Ping()) == Pong(component="dbmanager")


class CountingStore:
    """A store that records the size of each batch it applies."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.batch_sizes: list[int] = []

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.batch_sizes.append(len(ops))
        return await self.inner.apply(ops)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_concurrent_writes_are_group_committed(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    async with open_store(config.store_url) as store, trio.open_nursery() as nursery:
        counting = CountingStore(store)
        endpoint = await nursery.start(serve_store, counting, config)  # type: ignore[arg-type]
        async with open_client(endpoint) as client:
            await call(client, PutUser(name="ann"))
            await call(client, PutFunction(function=ADD))
            counting.batch_sizes.clear()
            replies: list[Message] = []

            async def create(number: int) -> None:
                replies.append(await call(client, CreateJob(submission_of(new_job(number)))))

            async with trio.open_nursery() as creators:
                for number in range(100):
                    creators.start_soon(create, number)
        nursery.cancel_scope.cancel()

    assert all(isinstance(reply, JobCreated) and not reply.existing for reply in replies)
    assert len({reply.job.id for reply in replies}) == 100  # type: ignore[attr-defined]
    assert sum(counting.batch_sizes) == 100
    assert len(counting.batch_sizes) < 100
    async with open_store(config.store_url) as store:
        assert len(await store.list_jobs("ann", None, 1000)) == 100


async def test_data_survives_a_restart_on_the_same_file(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    for run in range(2):
        async with trio.open_nursery() as nursery:
            endpoint = await nursery.start(serve, config)
            async with open_client(endpoint) as client:
                if run == 0:
                    await call(client, PutUser(name="ann"))
                    await call(client, PutFunction(function=ADD))
                    await call(client, CreateJob(submission_of(new_job(7))))
                else:
                    reply = await call(client, GetJob(id=new_job(7).id))
                    assert isinstance(reply, JobReply) and reply.job.state is JobState.QUEUED
                    function = await call(client, GetFunction(user="ann", name="add"))
                    assert isinstance(function, FunctionReply) and function.function.version == 1
            nursery.cancel_scope.cancel()


async def test_serve_fails_cleanly_on_an_unusable_store(tmp_path: Path) -> None:
    (tmp_path / "db" / "faas.db").mkdir(parents=True)
    with pytest.raises(PeerUnavailable):
        await serve(config_for(tmp_path))


class SweepLog:
    def __init__(self) -> None:
        self.cutoffs: list[float] = []
        self.fail = False

    async def sweep(self, finished_before: float) -> int:
        self.cutoffs.append(finished_before)
        if self.fail:
            self.fail = False
            raise PeerUnavailable("disk gone")
        return 1


async def test_sweep_runs_at_once_then_every_interval_and_survives_failures(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sweeps = SweepLog()
    sweeps.fail = True
    with trio.move_on_after(35):
        await sweep_periodically(sweeps, 100.0, 10.0, now=lambda: 1000.0)  # type: ignore[arg-type]
    assert sweeps.cutoffs == [900.0] * 4


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_main_exits_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    env = {**os.environ, "FAAS_HOME": str(tmp_path), "PORT": "0", "FAAS_LOG_LEVEL": "INFO"}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", "from faas_trio.dbmanager import main; main()"],
        env=env,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    output = b""
    try:
        with trio.fail_after(30):
            while b"serving on" not in output:
                chunk = await process.stderr.receive_some()
                assert chunk, output.decode()
                output += chunk
            process.send_signal(signum)
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await process.wait()
    assert (tmp_path / "faas.db").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"FAAS_JOB_RETENTION": "soon"}, b"FAAS_JOB_RETENTION='soon' is not a number"),
        ({"DB_URL": "redis://x"}, b"DB_URL='redis://x' is not sqlite:///abs/path.db"),
    ],
)
async def test_main_exits_2_with_a_clear_message_on_a_bad_setting(
    tmp_path: Path, setting: dict[str, str], message: bytes
) -> None:
    env = {**os.environ, "FAAS_HOME": str(tmp_path), "PORT": "0", **setting}
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-c", "from faas_trio.dbmanager import main; main()"],
            env=env,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 2
    assert message in result.stderr
