"""The frontend's real neighbours, in process: the dbmanager's handler over the in-memory store
and the jqmanager's JobManager, each behind a real RPC server; plus what a test needs around
them (the requests the frontend sent, a worker's side of the job protocol) and the envelope
checker.

Nothing here re-implements a neighbour: the store is :class:`~faas_trio.store.memory.
MemoryStore` (the SQLite backend in memory, checked by the store contract suite), the
dbmanager is :func:`faas_trio.dbmanager.server.make_handler` with its group committer, and the
jqmanager is :class:`~faas_trio.jqmanager.manager.JobManager` with its own request handler. Each
gets two endpoints: the frontend's (whose requests are recorded, so a test can say what the
frontend asked) and another for the rest (the jqmanager's connection to the dbmanager, the
test acting as a worker), not recorded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import quart.typing
import trio

from faas_trio.core.messages import (
    Dispatch,
    Message,
    NextJob,
    Ping,
    Report,
    SetBuild,
)
from faas_trio.core.records import Build, Function, JobRecord, JobState, Outcome, User
from faas_trio.core.rpc import Client, Handler, open_client, serve_rpc
from faas_trio.dbmanager.committer import GroupCommitter
from faas_trio.dbmanager.server import make_handler
from faas_trio.frontend import FrontendConfig, create_app
from faas_trio.frontend.peers import Peers
from faas_trio.jqmanager.config import JqManagerConfig
from faas_trio.jqmanager.handlers import handle_with, take_back_undelivered
from faas_trio.jqmanager.manager import JobManager
from faas_trio.jqmanager.maps import MapManager
from faas_trio.store import Store
from faas_trio.store.memory import MemoryStore

#: What ``app.test_client()`` returns.
AppClient = quart.typing.TestClientProtocol

#: The worker the tests act as when they take and finish jobs.
TEST_WORKER = "test-worker"

TEST_CONFIG = FrontendConfig(max_body=4096, max_wait=30.0, max_timeout=120.0)
ADMIN_KEY = "admin-key-for-the-tests-0123456789"
KEYS_CONFIG = dataclasses.replace(
    TEST_CONFIG, auth="keys", admin_key=ADMIN_KEY, callback_allow=("hooks.example.com",)
)


@dataclass
class Neighbours:
    """The running dbmanager and jqmanager of one test, and what the frontend sent them."""

    store: Store
    #: The frontend's endpoints.
    db_url: str = ""
    jq_url: str = ""
    #: Requests the frontend sent (Pings left out), in order.
    db_requests: list[Message] = field(default_factory=list)
    jq_requests: list[Message] = field(default_factory=list)
    #: Called with each dbmanager request of the frontend before the real handler sees it,
    #: when set: a test makes a race with another client that way.
    before_db: Callable[[Message], Awaitable[None]] | None = None
    #: The jqmanager's connection, for the test's worker side.
    jq: Client | None = None

    def config_of(self, config: FrontendConfig) -> FrontendConfig:
        """``config`` for a frontend served on a free port with these neighbours."""
        return dataclasses.replace(config, port=0, db_url=self.db_url, jq_url=self.jq_url)

    async def user(self, name: str) -> User:
        """The stored user ``name`` (which must exist)."""
        user = await self.store.get_user(name)
        assert user is not None, f"no user {name}"
        return user

    async def has_user(self, name: str) -> bool:
        return await self.store.get_user(name) is not None

    async def function(self, user: str, name: str) -> Function:
        """The stored function (which must exist)."""
        function = await self.store.get_function(user, name)
        assert function is not None, f"no function {name} of {user}"
        return function

    async def has_function(self, user: str, name: str) -> bool:
        return await self.store.get_function(user, name) is not None

    async def job(self, job_id: str) -> JobRecord:
        """The stored job (which must exist)."""
        job = await self.store.get_job(job_id)
        assert job is not None, f"no job {job_id}"
        return job

    async def has_job(self, job_id: str) -> bool:
        return await self.store.get_job(job_id) is not None

    async def set_build(self, function: Function, build: Build) -> None:
        """Record ``build`` for the function, as the dbmanager's builder does."""
        await self.store.apply(
            [SetBuild(user=function.user, name=function.name, version=function.version,
                      build=build)]
        )  # fmt: skip

    async def take(self, wait: float = 5.0) -> Dispatch:
        """Take the next queued job as a worker does (``NextJob``).

        Cancellation: abandons the request; a job dispatched meanwhile stays leased.
        """
        assert self.jq is not None
        reply = await self.jq.call(NextJob(worker=TEST_WORKER, wait=wait), timeout=wait + 5.0)
        assert isinstance(reply, Dispatch), f"no job was dispatched within {wait} s"
        return reply

    async def finish(
        self,
        job_id: str,
        value: Any = None,
        *,
        error: str | None = None,
        logs: str = "",
        duration_ms: float = 1.5,
        cold_start: bool = False,
    ) -> JobRecord:
        """Take ``job_id`` (the next queued job) and report it finished as a worker does:
        succeeded with ``value`` (its JSON; a string's text is itself), or failed with
        ``error``. Returns the stored record (the report returns once it is stored).

        Cancellation: as :meth:`take`, then the report may or may not have been stored.
        """
        dispatch = await self.take()
        assert dispatch.job.id == job_id, (dispatch.job.id, job_id)
        await self.report(
            dispatch, value, error=error, logs=logs, duration_ms=duration_ms, cold_start=cold_start
        )
        record = await self.job(job_id)
        assert record.is_final
        return record

    async def report(
        self,
        dispatch: Dispatch,
        value: Any = None,
        *,
        error: str | None = None,
        logs: str = "",
        duration_ms: float = 1.5,
        cold_start: bool = False,
    ) -> None:
        """Report the outcome of ``dispatch`` (see :meth:`finish`).

        Cancellation: abandons the report, which may have been stored.
        """
        assert self.jq is not None
        job = dispatch.job
        if error is None:
            text = json.dumps(value)
            result = value if isinstance(value, str) else text
            outcome = Outcome(
                job_id=job.id, attempt=job.attempts, state=JobState.SUCCEEDED, value=text,
                result=result, logs=logs, duration_ms=duration_ms, cold_start=cold_start,
            )  # fmt: skip
        else:
            outcome = Outcome(
                job_id=job.id, attempt=job.attempts, state=JobState.FAILED, error=error,
                logs=logs, duration_ms=duration_ms, cold_start=cold_start,
            )  # fmt: skip
        await self.jq.call(Report(worker=TEST_WORKER, outcome=outcome))

    async def run_jobs(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Act as a worker until cancelled: run every job dispatched, its value the sum of its
        numeric arguments (else how many there are).

        Cancellation: stops asking; a job taken and not yet reported stays leased.
        """
        task_status.started()
        while True:
            assert self.jq is not None
            reply = await self.jq.call(NextJob(worker=TEST_WORKER, wait=1.0), timeout=6.0)
            if isinstance(reply, Dispatch):
                await self.report(reply, sum_of(json.loads(reply.job.args)))


def sum_of(args: list[Any]) -> Any:
    """What :meth:`Neighbours.run_jobs` "runs": the sum of numeric arguments, else their count."""
    if all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        return sum(args)
    return len(args)


def _recorded(
    handler: Handler,
    log: list[Message],
    before: Callable[[], Callable[[Message], Awaitable[None]] | None],
) -> Handler:
    async def handle(request: Message) -> Message:
        if not isinstance(request, Ping):
            log.append(request)
            hook = before()
            if hook is not None:
                await hook(request)
        return await handler(request)

    return handle


@asynccontextmanager
async def open_neighbours(**jq_settings: Any) -> AsyncIterator[Neighbours]:
    """A dbmanager (over a new in-memory store) and a jqmanager (its
    :class:`~faas_trio.jqmanager.config.JqManagerConfig` fields from ``jq_settings``),
    serving until the block ends; the jqmanager has loaded its (empty) table when the block
    starts."""
    async with trio.open_nursery() as nursery:
        store = await MemoryStore.open_memory()
        try:
            neighbours = Neighbours(store)
            committer = GroupCommitter(store)
            await nursery.start(committer.run)
            db_handler = make_handler(store, committer)
            own_db_url = await nursery.start(
                partial(serve_rpc, "tcp://127.0.0.1:*", db_handler, name="dbmanager")
            )
            neighbours.db_url = await nursery.start(
                partial(
                    serve_rpc,
                    "tcp://127.0.0.1:*",
                    _recorded(db_handler, neighbours.db_requests, lambda: neighbours.before_db),
                    name="dbmanager",
                )
            )
            config = JqManagerConfig(bind="tcp://127.0.0.1:*", db_url=own_db_url, **jq_settings)
            async with open_client(own_db_url, name="jqmanager-db", peer="dbmanager") as db:
                manager = JobManager(config, db, nursery)
                jq_handler = partial(handle_with, manager, MapManager(manager))
                serve_jq = partial(
                    serve_rpc,
                    "tcp://127.0.0.1:*",
                    name="jqmanager",
                    on_undelivered=partial(take_back_undelivered, manager),
                )
                workers_url = await nursery.start(serve_jq, jq_handler)
                neighbours.jq_url = await nursery.start(
                    serve_jq, _recorded(jq_handler, neighbours.jq_requests, lambda: None)
                )
                await manager.load()
                nursery.start_soon(manager.watch_leases)
                async with open_client(workers_url, name="test-worker") as jq:
                    neighbours.jq = jq
                    yield neighbours
                    nursery.cancel_scope.cancel()
        finally:
            await store.aclose()


@asynccontextmanager
async def app_client(
    neighbours: Neighbours, config: FrontendConfig = TEST_CONFIG, **settings: Any
) -> AsyncIterator[AppClient]:
    """A test client of an app with ``config`` (changed by ``settings``) talking to
    ``neighbours``."""
    config = dataclasses.replace(config, **settings)
    async with open_client(neighbours.db_url) as db, open_client(neighbours.jq_url) as jq:
        yield create_app(config, Peers(db=db, jq=jq, rpc_timeout=5.0)).test_client()


def bearer(key: str) -> dict[str, str]:
    """The header that presents ``key``."""
    return {"Authorization": f"Bearer {key}"}


async def envelope_of(response: Any) -> tuple[int, bool, Any]:
    """(status, error, res) of a response, checking the body is exactly the envelope."""
    body = json.loads(await response.get_data())
    assert response.content_type == "application/json"
    assert set(body) == {"error", "res"}, body
    assert isinstance(body["error"], bool)
    return response.status_code, body["error"], body["res"]
