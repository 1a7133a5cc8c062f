"""Every message that crosses a process boundary, and its wire encoding.

A message on the wire is two ZeroMQ frames (a ROUTER adds the peer identity in front)::

    header = struct "!BQ": protocol version (1 byte), request id (8 bytes)
    body   = msgpack of one tagged struct below (the tag is the class name)

Requests and replies are the same kind of thing: frozen :mod:`msgspec` structs. The decoder
validates types, so a handler only ever sees a well-formed message; anything else raises
:class:`~faas_trio.core.errors.ProtocolError` chained to its cause, and the RPC server answers it
with an :class:`ErrorReply` instead of crashing.

Who sends what:

=================  =====================================  =====================================
caller -> callee   request                                reply
=================  =====================================  =====================================
any -> any         Ping                                   Pong
frontend -> db     PutUser, DeleteUser, GetUser           Done, UserReply
frontend -> db     PutFunction, GetFunction,              FunctionReply, FunctionsReply, Done
                   ListFunctions, DeleteFunction
frontend -> db     GetJob, GetLogs, ListJobs              JobReply, LogsReply, JobsReply
frontend -> db     PutSecret, DeleteSecret, ListSecrets   Done, SecretsReply
frontend, jq -> db WaitBuild (held until the build ends)  FunctionReply
frontend -> jq     Submit, WaitJob, CancelJob             JobReply
scaler -> jq       GetStats                               Stats
jq -> db           CreateJob                              JobCreated
jq -> db           StartJob, RequeueJob, FinishJob        Changed
jq -> db           DeleteJob, UnfinishedJobs              Done, UnfinishedReply
worker -> jq       NextJob (held until there is work)     Dispatch | NoJob
worker -> jq       Heartbeat (held up to ``wait``)        Commands
worker -> jq       Report                                 Done
scaler -> up       SetWorkers (the local supervisor)      Done
frontend -> jq     GetMetrics                             Metrics
=================  =====================================  =====================================

Bump :data:`PROTOCOL_VERSION` on any change a peer of the previous version would misread.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

import msgspec

from .errors import ProtocolError

__all__ = [
    "FINAL_STATES",
    "Build",
    "BuildState",
    "DeleteSecret",
    "ListSecrets",
    "PutSecret",
    "SecretsReply",
    "SetBuild",
    "WaitBuild",
    "PROTOCOL_VERSION",
    "CancelJob",
    "Changed",
    "Commands",
    "CreateJob",
    "DeleteFunction",
    "DeleteJob",
    "DeleteUser",
    "Dispatch",
    "Done",
    "ErrorReply",
    "FinishJob",
    "Function",
    "FunctionReply",
    "FunctionsReply",
    "GetFunction",
    "GetJob",
    "GetLogs",
    "GetMetrics",
    "GetStats",
    "GetUser",
    "Heartbeat",
    "Histogram",
    "JobCreated",
    "JobRecord",
    "JobReply",
    "JobState",
    "JobsReply",
    "ListFunctions",
    "ListJobs",
    "LogsReply",
    "Message",
    "Metrics",
    "NextJob",
    "NoJob",
    "Outcome",
    "Ping",
    "Pong",
    "PutFunction",
    "PutUser",
    "Report",
    "RequeueJob",
    "Runtime",
    "SetWorkers",
    "StartJob",
    "Stats",
    "Submit",
    "UnfinishedJobs",
    "UnfinishedReply",
    "User",
    "UserReply",
    "WaitJob",
    "decode_body",
    "decode_header",
    "encode_body",
    "encode_header",
]

PROTOCOL_VERSION = 1

_HEADER = struct.Struct("!BQ")


class JobState(enum.StrEnum):
    """Where a job is in its life. Final states never change again."""

    #: Persisted and waiting for a worker.
    QUEUED = "queued"
    #: Handed to a worker, which holds a lease on it.
    RUNNING = "running"
    #: The function returned; ``value`` holds its JSON value.
    SUCCEEDED = "succeeded"
    #: The function raised, the sandbox crashed, or the job ran out of attempts.
    FAILED = "failed"
    #: The function ran past its timeout and was killed.
    TIMEOUT = "timeout"
    #: Cancelled by its owner before it finished.
    CANCELLED = "cancelled"


FINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED}
)


class Runtime(enum.StrEnum):
    """The language a function is written in."""

    #: ``def`` or ``async def``, run by CPython.
    PYTHON = "python"
    #: A JavaScript function, sync or async, run by Node.js in a ``vm`` context.
    NODE = "node"


# ---- records -------------------------------------------------------------------------------


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A registered user. ``key_hash`` is a hash of their API key, never the key."""

    name: str
    execution_time_ms: float = 0.0
    key_hash: str | None = None
    created_at: float = 0.0


class BuildState(enum.StrEnum):
    """Where the build of a function's package environment is."""

    #: Registered; no build started yet.
    PENDING = "pending"
    #: The requirements are being resolved.
    BUILDING = "building"
    #: Resolved: ``resolved`` is the exact set every worker host installs.
    READY = "ready"
    #: Resolution failed; ``error`` says why, and calls of this version fail with it.
    FAILED = "failed"


class Build(msgspec.Struct, frozen=True, kw_only=True):
    """The environment build of one function version (see :mod:`faas_trio.core.packages`)."""

    state: BuildState = BuildState.PENDING
    #: The environment's id (a hash of the resolved set and the interpreter), once ready.
    env: str | None = None
    #: One ``name==version --hash=sha256:H`` line per distribution, sorted, once ready.
    resolved: list[str] = []
    #: What the build printed (capped).
    log: str = ""
    error: str | None = None
    finished_at: float | None = None

    @property
    def is_final(self) -> bool:
        return self.state in (BuildState.READY, BuildState.FAILED)


class Function(msgspec.Struct, frozen=True, kw_only=True):
    """A user's function. ``version`` grows by one on every re-registration."""

    user: str
    name: str
    source: str
    runtime: Runtime
    #: Seconds a call may run before it is killed.
    timeout: float
    memory_mb: int
    version: int = 0
    updated_at: float = 0.0
    #: Normalised requirement lines (Python only); empty: the standard library only.
    requirements: list[str] = []
    #: Modules the environment's zygote imports; None: the wheels' top-level modules.
    preload: list[str] | None = None
    #: Environment variables the function runs with (not secret: ``GET`` shows them).
    env: dict[str, str] = {}
    #: Names of the user's secrets the function gets as environment variables.
    secrets: list[str] = []
    #: The environment build; None when there are no requirements.
    build: Build | None = None
    #: The named secrets' sealed values (Fernet tokens), attached by the store only to the
    #: copy a job runs with (``JobCreated``, ``UnfinishedReply``); never stored with it.
    sealed: dict[str, str] = {}


class JobRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One call of a function, from submission to its final state.

    ``args`` and ``value`` are JSON texts, passed through untouched between processes.
    ``result`` is the old API's string form of the outcome: a string value as is, any other
    value as its JSON text, an error as its message. Times are Unix seconds; durations ms.
    """

    id: str
    user: str
    function: str
    runtime: Runtime
    args: str
    state: JobState = JobState.QUEUED
    result: str | None = None
    value: str | None = None
    error: str | None = None
    attempts: int = 0
    worker: str | None = None
    cold_start: bool | None = None
    init_ms: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    idempotency_key: str | None = None
    callback: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def to_public(self) -> dict[str, Any]:
        """The record as users see it (``GET /j/<id>/record``, callback bodies): every field,
        ``args`` and ``value`` as JSON values rather than texts, plus ``queue_ms`` (submission
        to start; None until it started)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["args"] = _json_value(self.args)
        out["value"] = _json_value(self.value)
        started = self.started_at
        out["queue_ms"] = (
            max(0.0, (started - self.created_at) * 1000.0)
            if started is not None and self.created_at > 0
            else None
        )
        return out


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        # A value that is not JSON is a bug upstream; show it as the text it is, not fail.
        return text


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker observed running one attempt of a job."""

    job_id: str
    attempt: int
    state: JobState
    result: str | None = None
    value: str | None = None
    error: str | None = None
    logs: str = ""
    duration_ms: float = 0.0
    cold_start: bool = False
    init_ms: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0


# ---- generic -------------------------------------------------------------------------------


class Ping(msgspec.Struct, frozen=True, tag=True):
    """Is the peer alive? Answered by every server with :class:`Pong`."""


class Pong(msgspec.Struct, frozen=True, tag=True):
    component: str


class Done(msgspec.Struct, frozen=True, tag=True):
    """Success with nothing to return."""


class ErrorReply(msgspec.Struct, frozen=True, tag=True):
    """Failure: ``code`` is a :class:`~faas_trio.core.errors.FaasError` code."""

    code: str
    message: str
    retry_after: float | None = None


# ---- dbmanager: users and functions --------------------------------------------------------


class PutUser(msgspec.Struct, frozen=True, tag=True):
    """Create a user, or reset an existing one (its functions are dropped). -> Done; with
    ``create_only``, Conflict if the user exists (nothing changes)."""

    name: str
    key_hash: str | None = None
    create_only: bool = False


class DeleteUser(msgspec.Struct, frozen=True, tag=True):
    """Remove a user and its functions. -> Done, or NotFound."""

    name: str


class GetUser(msgspec.Struct, frozen=True, tag=True):
    """-> UserReply, or NotFound."""

    name: str


class UserReply(msgspec.Struct, frozen=True, tag=True):
    user: User


class SetBuild(msgspec.Struct, frozen=True, tag=True):
    """Conditional: set the build of ``(user, name)`` if it is still at ``version``, and its
    build is not final yet. -> Changed."""

    user: str
    name: str
    version: int
    build: Build


class WaitBuild(msgspec.Struct, frozen=True, tag=True):
    """Hold until the build of ``(user, name)`` at ``version`` is final, the function is at
    another version, or ``wait`` seconds pass. -> FunctionReply (as it stands), or NotFound."""

    user: str
    name: str
    version: int
    wait: float


class PutSecret(msgspec.Struct, frozen=True, tag=True):
    """Create or replace a user's secret; ``sealed`` is its Fernet token. -> Done."""

    user: str
    name: str
    sealed: str


class DeleteSecret(msgspec.Struct, frozen=True, tag=True):
    """-> Done, or NotFound."""

    user: str
    name: str


class ListSecrets(msgspec.Struct, frozen=True, tag=True):
    """The names of a user's secrets. -> SecretsReply, or NotFound for an unknown user."""

    user: str


class SecretsReply(msgspec.Struct, frozen=True, tag=True):
    names: list[str]


class PutFunction(msgspec.Struct, frozen=True, tag=True):
    """Register or replace a function; the store assigns ``version``. -> FunctionReply."""

    function: Function


class GetFunction(msgspec.Struct, frozen=True, tag=True):
    """-> FunctionReply, or NotFound."""

    user: str
    name: str


class FunctionReply(msgspec.Struct, frozen=True, tag=True):
    function: Function


class ListFunctions(msgspec.Struct, frozen=True, tag=True):
    """-> FunctionsReply, or NotFound for an unknown user."""

    user: str


class FunctionsReply(msgspec.Struct, frozen=True, tag=True):
    functions: list[Function]


class DeleteFunction(msgspec.Struct, frozen=True, tag=True):
    """-> Done, or NotFound."""

    user: str
    name: str


# ---- dbmanager: jobs -----------------------------------------------------------------------


class CreateJob(msgspec.Struct, frozen=True, tag=True):
    """Persist a new queued job after checking its user and function exist.

    Idempotent: a job whose ``id`` (or ``(user, idempotency_key)``) is already stored is not
    inserted again; the stored one is returned with ``existing=True``. -> JobCreated.
    """

    job: JobRecord


class JobCreated(msgspec.Struct, frozen=True, tag=True):
    job: JobRecord
    function: Function
    existing: bool = False


class StartJob(msgspec.Struct, frozen=True, tag=True):
    """Conditional ``queued -> running`` for ``attempt`` (= attempts after this start)."""

    id: str
    attempt: int
    worker: str
    started_at: float


class RequeueJob(msgspec.Struct, frozen=True, tag=True):
    """Conditional ``running -> queued`` (worker lost, drained). ``attempts``, when given,
    replaces the stored count (a job handed back unrun does not count the attempt); else the
    count is kept."""

    id: str
    error: str | None = None
    attempts: int | None = None


class FinishJob(msgspec.Struct, frozen=True, tag=True):
    """Conditional non-final -> final. When applied, the job's ``duration_ms`` is added to
    its user's execution time in the same transaction, and ``logs`` are stored. -> Changed."""

    job: JobRecord
    logs: str = ""


class Changed(msgspec.Struct, frozen=True, tag=True):
    """Whether a conditional state change applied (False: the job was not in a from-state)."""

    applied: bool


class DeleteJob(msgspec.Struct, frozen=True, tag=True):
    """Remove a job and its logs. -> Done, or NotFound."""

    id: str


class GetJob(msgspec.Struct, frozen=True, tag=True):
    """-> JobReply, or NotFound."""

    id: str


class JobReply(msgspec.Struct, frozen=True, tag=True):
    job: JobRecord


class GetLogs(msgspec.Struct, frozen=True, tag=True):
    """-> LogsReply, or NotFound."""

    id: str


class LogsReply(msgspec.Struct, frozen=True, tag=True):
    logs: str


class ListJobs(msgspec.Struct, frozen=True, tag=True):
    """A user's jobs, newest first. -> JobsReply."""

    user: str
    state: JobState | None = None
    limit: int = 50


class JobsReply(msgspec.Struct, frozen=True, tag=True):
    jobs: list[JobRecord]


class UnfinishedJobs(msgspec.Struct, frozen=True, tag=True):
    """Every queued or running job, oldest first, with the functions they call."""


class UnfinishedReply(msgspec.Struct, frozen=True, tag=True):
    jobs: list[JobRecord]
    functions: list[Function]


# ---- jqmanager -----------------------------------------------------------------------------


class Submit(msgspec.Struct, frozen=True, tag=True):
    """Queue ``job`` (persisted before the reply). With ``wait`` > 0 the reply is held until
    the job is final or ``wait`` seconds pass. -> JobReply with the record as it stands."""

    job: JobRecord
    wait: float = 0.0


class WaitJob(msgspec.Struct, frozen=True, tag=True):
    """Hold until job ``id`` is final or ``wait`` seconds pass. -> JobReply, or NotFound."""

    id: str
    wait: float


class CancelJob(msgspec.Struct, frozen=True, tag=True):
    """Cancel a queued or running job (a running child is killed). -> JobReply (final)."""

    id: str


class GetStats(msgspec.Struct, frozen=True, tag=True):
    """-> Stats. The scaler reports its last decision with each request, for ``/metrics``."""

    #: The worker count the scaler last decided (None: no decision yet, or not the scaler).
    desired_workers: int | None = None
    #: Seconds until the sender asks again; jqmanager forgets the report after three of them.
    interval: float | None = None


class Stats(msgspec.Struct, frozen=True, tag=True):
    queued: int
    running: int
    workers: int
    slots: int
    #: Mean duration of recently finished jobs, ms (0 when none finished yet).
    recent_duration_ms: float = 0.0
    finished_total: int = 0


class NextJob(msgspec.Struct, frozen=True, tag=True):
    """A worker's free slot asks for work; held up to ``wait`` s. -> Dispatch | NoJob."""

    worker: str
    wait: float


class Dispatch(msgspec.Struct, frozen=True, tag=True):
    """A job to run now; ``job.attempts`` is this attempt's number."""

    job: JobRecord
    function: Function


class NoJob(msgspec.Struct, frozen=True, tag=True):
    """Nothing arrived while the request was held; ask again."""


class Heartbeat(msgspec.Struct, frozen=True, tag=True):
    """A worker is alive, runs ``running`` and has ``slots`` slots in all.

    Held up to ``wait`` s, and answered at once when there is a command for the worker, so it
    doubles as the channel that delivers cancels. ``draining`` asks for no new work.
    """

    worker: str
    running: list[str]
    slots: int
    wait: float
    draining: bool = False


class Commands(msgspec.Struct, frozen=True, tag=True):
    """Job ids the worker must cancel (kill their sandboxes and report them cancelled)."""

    cancel: list[str] = []


class Report(msgspec.Struct, frozen=True, tag=True):
    """A finished attempt. The worker resends until it gets Done.

    An outcome in state ``queued`` hands the job back unrun (the worker is draining): it is
    requeued without counting the attempt.
    """

    worker: str
    outcome: Outcome


# ---- supervisor ----------------------------------------------------------------------------


class SetWorkers(msgspec.Struct, frozen=True, tag=True):
    """Run ``count`` worker processes (the local actuator of the scaler). -> Done."""

    count: int


# ---- metrics -------------------------------------------------------------------------------


class Histogram(msgspec.Struct, frozen=True, kw_only=True):
    """Observations counted by bucket, as Prometheus keeps them.

    ``counts[i]`` is how many observations were at most ``bounds[i]`` (cumulative); ``count``
    is all of them (the ``+Inf`` bucket) and ``sum`` their total.
    """

    bounds: list[float]
    counts: list[int]
    count: int = 0
    sum: float = 0.0


class GetMetrics(msgspec.Struct, frozen=True, tag=True):
    """The jqmanager's job counters since it started. -> Metrics."""


class Metrics(msgspec.Struct, frozen=True, tag=True):
    """Job counters of the jqmanager, which sees every finish (counted once, whichever
    frontend asks). Durations are in seconds."""

    #: Jobs that reached each final state, by state value.
    jobs_total: dict[str, int]
    #: How long finished jobs ran.
    job_duration: Histogram
    #: How long finished jobs waited from submission to their (last) start.
    queue_wait: Histogram
    queued: int
    running: int
    workers: int
    cold_starts_total: int = 0
    #: The scaler's last decision; None when no scaler reported within three of its intervals.
    desired_workers: int | None = None


Message = (
    Ping
    | Pong
    | Done
    | ErrorReply
    | PutUser
    | DeleteUser
    | GetUser
    | UserReply
    | PutFunction
    | GetFunction
    | FunctionReply
    | ListFunctions
    | FunctionsReply
    | DeleteFunction
    | SetBuild
    | WaitBuild
    | PutSecret
    | DeleteSecret
    | ListSecrets
    | SecretsReply
    | CreateJob
    | JobCreated
    | StartJob
    | RequeueJob
    | FinishJob
    | Changed
    | DeleteJob
    | GetJob
    | JobReply
    | GetLogs
    | LogsReply
    | ListJobs
    | JobsReply
    | UnfinishedJobs
    | UnfinishedReply
    | Submit
    | WaitJob
    | CancelJob
    | GetStats
    | Stats
    | NextJob
    | Dispatch
    | NoJob
    | Heartbeat
    | Commands
    | Report
    | SetWorkers
    | GetMetrics
    | Metrics
)

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)


def encode_header(request_id: int) -> bytes:
    """The header frame for ``request_id`` in this protocol version."""
    return _HEADER.pack(PROTOCOL_VERSION, request_id)


def decode_header(frame: bytes) -> int:
    """The request id in a header frame.

    Raises:
        ProtocolError: the frame is not a header, or is of another protocol version.
    """
    if len(frame) != _HEADER.size:
        raise ProtocolError(f"header frame of {len(frame)} bytes, expected {_HEADER.size}")
    version, request_id = _HEADER.unpack(frame)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version} not supported (speak {PROTOCOL_VERSION})")
    return int(request_id)


def encode_body(message: Message) -> bytes:
    return _encoder.encode(message)


def decode_body(frame: bytes) -> Message:
    """The message in a body frame.

    Raises:
        ProtocolError: not msgpack, or not one of the messages above, chained to the cause.
    """
    try:
        return _decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from exc
