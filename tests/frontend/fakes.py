"""Fake dbmanager and jqmanager for the frontend tests, and an envelope checker."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import quart.typing

from faas_trio.core.errors import BadRequest, Conflict, FaasError, NotFound
from faas_trio.core.messages import (
    CancelJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    Done,
    FunctionReply,
    FunctionsReply,
    GetFunction,
    GetJob,
    GetLogs,
    GetMetrics,
    GetStoreMetrics,
    GetUser,
    JobReply,
    JobsReply,
    ListFunctions,
    ListJobs,
    ListSecrets,
    LogsReply,
    Message,
    Metrics,
    Ping,
    Pong,
    PutFunction,
    PutSecret,
    PutUser,
    SecretsReply,
    StoreMetrics,
    Submit,
    UserReply,
    WaitBuild,
    WaitJob,
)
from faas_trio.core.records import Function, Histogram, JobRecord, JobState, User
from faas_trio.frontend import FrontendConfig
from faas_trio.store.base import created_job

#: What ``app.test_client()`` returns.
AppClient = quart.typing.TestClientProtocol


_DB_REQUESTS = (
    PutUser, DeleteUser, GetUser, PutFunction, GetFunction, DeleteFunction, ListFunctions,
    GetJob, GetLogs, DeleteJob, ListJobs, WaitBuild, PutSecret, ListSecrets, DeleteSecret,
    GetStoreMetrics,
)  # fmt: skip
_JQ_REQUESTS = (Submit, WaitJob, CancelJob, GetMetrics)

#: What the fake jqmanager answers to GetMetrics.
FAKE_METRICS = Metrics(
    jobs_total={"succeeded": 3, "failed": 1},
    job_duration=Histogram(bounds=[0.1, 1.0], counts=[2, 3], count=4, sum=2.75),
    queue_wait=Histogram(bounds=[0.1, 1.0], counts=[4, 4], count=4, sum=0.02),
    queued=5,
    running=2,
    workers=1,
    cold_starts_total=2,
)

#: What the fake dbmanager answers to GetStoreMetrics.
FAKE_STORE_METRICS = StoreMetrics(
    commands_total={"write": 7, "get_job": 3},
    roundtrip=Histogram(bounds=[0.001, 0.01], counts=[8, 10], count=10, sum=0.025),
)


@dataclass
class FakeNeighbours:
    """In-memory stand-ins for dbmanager and jqmanager, recording every request.

    Requests of other kinds (from stray clients of other tests that reconnect to a reused
    port) are refused and not recorded. The fake jqmanager "runs" a job submitted with a wait
    (sums its arguments) unless the function's source contains ``slow``; otherwise jobs stay
    queued until :meth:`finish`.
    """

    users: dict[str, User] = field(default_factory=dict)
    functions: dict[tuple[str, str], Function] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    #: Sealed secrets by (user, name).
    secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    db_requests: list[Message] = field(default_factory=list)
    jq_requests: list[Message] = field(default_factory=list)
    #: Raised by the fake jqmanager on the next Submit, when set.
    submit_error: FaasError | None = None
    #: Called with each dbmanager request before it is handled, when set (to make races).
    before_db: Callable[[Message], None] | None = None
    db_url: str = ""
    jq_url: str = ""

    def job(self, job_id: str) -> JobRecord:
        if job_id not in self.jobs:
            raise NotFound(f"no job {job_id}")
        return self.jobs[job_id]

    def finish(self, job_id: str, value: Any) -> JobRecord:
        text = json.dumps(value)
        result = value if isinstance(value, str) else text
        record = msgspec.structs.replace(
            self.jobs[job_id],
            state=JobState.SUCCEEDED,
            value=text,
            result=result,
            duration_ms=1.5,
        )
        self.jobs[job_id] = record
        return record

    async def handle_db(self, request: Message) -> Message:
        if isinstance(request, Ping):
            return Pong("dbmanager")
        if self.before_db is not None:
            self.before_db(request)
        if not isinstance(request, _DB_REQUESTS):
            # Not from the frontend under test: a stray client of another test on this port.
            raise BadRequest(f"fake dbmanager does not handle {type(request).__name__}")
        self.db_requests.append(request)
        match request:
            case PutUser(name=name, key_hash=key_hash, create_only=create_only):
                if create_only and name in self.users:
                    raise Conflict(f"user '{name}' exists already")
                self.users[name] = User(name=name, key_hash=key_hash)
                for key in [k for k in self.functions if k[0] == name]:
                    del self.functions[key]
                return Done()
            case DeleteUser(name=name) | GetUser(name=name) if name not in self.users:
                raise NotFound(f"no user {name}")
            case DeleteUser(name=name):
                del self.users[name]
                return Done()
            case GetUser(name=name):
                return UserReply(self.users[name])
            case PutFunction(function=f):
                if f.user not in self.users:
                    raise NotFound(f"no user {f.user}")
                old = self.functions.get((f.user, f.name))
                stored = msgspec.structs.replace(f, version=1 if old is None else old.version + 1)
                self.functions[(f.user, f.name)] = stored
                return FunctionReply(stored)
            case GetFunction(user=u, name=n) | DeleteFunction(user=u, name=n) if (
                u,
                n,
            ) not in self.functions:
                raise NotFound(f"no function {n} for user {u}")
            case GetFunction(user=u, name=n):
                return FunctionReply(self.functions[(u, n)])
            case WaitBuild(user=u, name=n):
                # The fake builds nothing: the function as it stands (a test may set a build).
                if (u, n) not in self.functions:
                    raise NotFound(f"no function {n} for user {u}")
                return FunctionReply(self.functions[(u, n)])
            case PutSecret(user=u, name=n, sealed=sealed):
                if u not in self.users:
                    raise NotFound(f"no user {u}")
                self.secrets[(u, n)] = sealed
                return Done()
            case ListSecrets(user=u):
                if u not in self.users:
                    raise NotFound(f"no user {u}")
                return SecretsReply(sorted(n for (o, n) in self.secrets if o == u))
            case DeleteSecret(user=u, name=n):
                if self.secrets.pop((u, n), None) is None:
                    raise NotFound(f"no secret {n}")
                return Done()
            case DeleteFunction(user=u, name=n):
                del self.functions[(u, n)]
                return Done()
            case ListFunctions(user=u):
                if u not in self.users:
                    raise NotFound(f"no user {u}")
                return FunctionsReply([f for k, f in self.functions.items() if k[0] == u])
            case GetJob(id=job_id):
                return JobReply(self.job(job_id))
            case GetStoreMetrics():
                return FAKE_STORE_METRICS
            case GetLogs(id=job_id):
                self.job(job_id)
                return LogsReply(self.logs.get(job_id, ""))
            case DeleteJob(id=job_id):
                self.job(job_id)
                del self.jobs[job_id]
                return Done()
            case ListJobs(user=u, state=state, limit=limit):
                mine = [j for j in self.jobs.values() if j.user == u]
                if state is not None:
                    mine = [j for j in mine if j.state is state]
                mine.sort(key=lambda j: j.created_at, reverse=True)
                return JobsReply(mine[:limit])
        raise AssertionError(f"fake dbmanager got an unexpected {request!r}")

    async def handle_jq(self, request: Message) -> Message:
        if isinstance(request, Ping):
            return Pong("jqmanager")
        if not isinstance(request, _JQ_REQUESTS):
            raise BadRequest(f"fake jqmanager does not handle {type(request).__name__}")
        self.jq_requests.append(request)
        match request:
            case GetMetrics():
                return FAKE_METRICS
            case Submit() if self.submit_error is not None:
                raise self.submit_error
            case Submit(submission=submission, wait=wait):
                function = self.functions.get((submission.user, submission.function))
                if function is None:
                    raise NotFound(f"no function {submission.function} for user {submission.user}")
                job = created_job(submission, function, time.time())
                for stored in self.jobs.values():
                    if job.idempotency_key and (stored.user, stored.idempotency_key) == (
                        job.user,
                        job.idempotency_key,
                    ):
                        return JobReply(stored)
                self.jobs[job.id] = job
                if wait > 0 and "slow" not in function.source:
                    return JobReply(self.finish(job.id, _fake_result(json.loads(job.args))))
                return JobReply(self.jobs[job.id])
            case WaitJob(id=job_id):
                return JobReply(self.job(job_id))
            case CancelJob(id=job_id):
                record = self.job(job_id)
                if record.is_final:
                    raise Conflict(f"job {job_id} is already {record.state.value}")
                record = msgspec.structs.replace(
                    record, state=JobState.CANCELLED, error="cancelled"
                )
                self.jobs[job_id] = record
                return JobReply(record)
        raise AssertionError(f"fake jqmanager got an unexpected {request!r}")


def _fake_result(args: list[Any]) -> Any:
    """What the fake "runs": the sum of numeric arguments, else how many there are."""
    if all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        return sum(args)
    return len(args)


TEST_CONFIG = FrontendConfig(max_body=4096, max_wait=30.0, max_timeout=120.0)
ADMIN_KEY = "admin-key-for-the-tests-0123456789"
KEYS_CONFIG = dataclasses.replace(
    TEST_CONFIG, auth="keys", admin_key=ADMIN_KEY, callback_allow=("hooks.example.com",)
)


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
