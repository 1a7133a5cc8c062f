"""Every message that crosses a process boundary between components: the one schema.

Requests and replies are frozen, tagged :mod:`msgspec` structs (the tag is the class name);
the records they carry are in :mod:`faas_trio.core.records`, the metrics messages in
:mod:`.metrics_messages` (re-exported here) and the wire encoding in
:mod:`faas_trio.core.wire`. Each request names its reply type, as in
``class GetJob(Request[JobReply])``.
:meth:`faas_trio.core.rpc.Client.call` returns exactly that type (checked on arrival, a reply
of another type raises :class:`~faas_trio.core.errors.ProtocolError` there, the one place a
reply's type is checked). Any request may instead be answered :class:`ErrorReply`, which the
caller raises as the :class:`~faas_trio.core.errors.FaasError` of its code.

The sections below say who sends each request to whom.

Bump :data:`faas_trio.core.wire.PROTOCOL_VERSION` on any change a peer of the previous
version would misread.
"""

from __future__ import annotations

import msgspec

from .metrics_messages import GetMetrics, GetStoreMetrics, Metrics, StoreMetrics
from .records import (
    Build,
    Function,
    GroupCounts,
    GroupRecord,
    JobRecord,
    JobState,
    Outcome,
    Submission,
    User,
)
from .request import Request, reply_types

__all__ = [
    "CancelGroup",
    "CancelJob",
    "Changed",
    "ChangedMany",
    "DeleteSecret",
    "ListSecrets",
    "PutSecret",
    "SecretsReply",
    "SetBuild",
    "WaitBuild",
    "Commands",
    "CreateGroup",
    "CreateJob",
    "DeleteFunction",
    "DeleteJob",
    "DeleteUser",
    "Dispatch",
    "Done",
    "ErrorReply",
    "FinishJob",
    "FinishJobs",
    "FunctionReply",
    "FunctionsReply",
    "GetFunction",
    "GetGroup",
    "GetJob",
    "GetLogs",
    "GetMetrics",
    "GetStats",
    "GetStoreMetrics",
    "GetUser",
    "GroupAccepted",
    "GroupCancelled",
    "GroupCreated",
    "GroupItems",
    "GroupProgress",
    "GroupReply",
    "GroupsReply",
    "Heartbeat",
    "JobCreated",
    "JobReply",
    "JobsReply",
    "ListFunctions",
    "ListGroups",
    "ListJobs",
    "LogsReply",
    "Message",
    "Metrics",
    "NextJob",
    "NoJob",
    "Ping",
    "Pong",
    "PutFunction",
    "PutUser",
    "Report",
    "Request",
    "RequeueJob",
    "SetWorkers",
    "StartJob",
    "Stats",
    "StoreMetrics",
    "Submit",
    "SubmitGroup",
    "UnfinishedJobs",
    "UnfinishedReply",
    "UserReply",
    "WaitJob",
    "WatchGroup",
    "reply_types",
]

# ---- any -> any -----------------------------------------------------------------------------


class Pong(msgspec.Struct, frozen=True, tag=True):
    component: str


class Ping(Request[Pong], frozen=True, tag=True):
    """Is the peer alive? Answered by every server with :class:`Pong`."""


class Done(msgspec.Struct, frozen=True, tag=True):
    """Success with nothing to return."""


class ErrorReply(msgspec.Struct, frozen=True, tag=True):
    """Failure: ``code`` is a :class:`~faas_trio.core.errors.FaasError` code."""

    code: str
    message: str
    retry_after: float | None = None


# ---- frontend -> dbmanager: users and functions ---------------------------------------------


class PutUser(Request[Done], frozen=True, tag=True):
    """Create a user, or reset an existing one (its functions are dropped). -> Done; with
    ``create_only``, Conflict if the user exists (nothing changes)."""

    name: str
    key_hash: str | None = None
    create_only: bool = False


class DeleteUser(Request[Done], frozen=True, tag=True):
    """Remove a user and its functions. -> Done, or NotFound."""

    name: str


class UserReply(msgspec.Struct, frozen=True, tag=True):
    user: User


class GetUser(Request[UserReply], frozen=True, tag=True):
    """-> UserReply, or NotFound."""

    name: str


class FunctionReply(msgspec.Struct, frozen=True, tag=True):
    function: Function


class PutFunction(Request[FunctionReply], frozen=True, tag=True):
    """Register or replace a function; the store assigns ``version``. -> FunctionReply."""

    function: Function


class GetFunction(Request[FunctionReply], frozen=True, tag=True):
    """-> FunctionReply, or NotFound."""

    user: str
    name: str


class FunctionsReply(msgspec.Struct, frozen=True, tag=True):
    functions: list[Function]


class ListFunctions(Request[FunctionsReply], frozen=True, tag=True):
    """-> FunctionsReply, or NotFound for an unknown user."""

    user: str


class DeleteFunction(Request[Done], frozen=True, tag=True):
    """-> Done, or NotFound."""

    user: str
    name: str


# ---- frontend, jqmanager -> dbmanager: jobs -------------------------------------------------


class JobCreated(msgspec.Struct, frozen=True, tag=True):
    job: JobRecord
    function: Function
    existing: bool = False


class CreateJob(Request[JobCreated], frozen=True, tag=True):
    """Persist ``submission`` as a new queued job after checking its user and function exist
    (the job's runtime is the function's).

    Idempotent: a job whose ``id`` (or ``(user, idempotency_key)``) is already stored is not
    inserted again; the stored one is returned with ``existing=True``.
    """

    submission: Submission


class Changed(msgspec.Struct, frozen=True, tag=True):
    """Whether a conditional state change applied (False: the job was not in a from-state)."""

    applied: bool


class StartJob(Request[Changed], frozen=True, tag=True):
    """Conditional ``queued -> running`` for ``attempt`` (= attempts after this start)."""

    id: str
    attempt: int
    worker: str
    started_at: float


class RequeueJob(Request[Changed], frozen=True, tag=True):
    """Conditional ``running -> queued`` (worker lost, drained). ``attempts``, when given,
    replaces the stored count (a job handed back unrun does not count the attempt); else the
    count is kept."""

    id: str
    error: str | None = None
    attempts: int | None = None


class FinishJob(Request[Changed], frozen=True, tag=True):
    """Conditional non-final -> final. When applied, the job's ``duration_ms`` is added to
    its user's execution time in the same transaction, and ``logs`` are stored. -> Changed."""

    job: JobRecord
    logs: str = ""


class ChangedMany(msgspec.Struct, frozen=True, tag=True):
    """Per write of a ``FinishJobs``: whether it applied, or None when its job is gone."""

    applied: list[bool | None]


class FinishJobs(Request[ChangedMany], frozen=True, tag=True):
    """Several ``FinishJob`` writes in one message, applied in order in the next commits."""

    finishes: list[FinishJob]


class DeleteJob(Request[Done], frozen=True, tag=True):
    """Remove a job and its logs. -> Done, or NotFound."""

    id: str


class JobReply(msgspec.Struct, frozen=True, tag=True):
    job: JobRecord


class GetJob(Request[JobReply], frozen=True, tag=True):
    """-> JobReply, or NotFound."""

    id: str


class LogsReply(msgspec.Struct, frozen=True, tag=True):
    logs: str


class GetLogs(Request[LogsReply], frozen=True, tag=True):
    """-> LogsReply, or NotFound."""

    id: str


class JobsReply(msgspec.Struct, frozen=True, tag=True):
    jobs: list[JobRecord]


class ListJobs(Request[JobsReply], frozen=True, tag=True):
    """A user's jobs, newest first. -> JobsReply."""

    user: str
    state: JobState | None = None
    limit: int = 50


class UnfinishedReply(msgspec.Struct, frozen=True, tag=True):
    jobs: list[JobRecord]
    functions: list[Function]


class UnfinishedJobs(Request[UnfinishedReply], frozen=True, tag=True):
    """Every queued or running job, oldest first, with the functions they call."""


# ---- dbmanager (builds), frontend, jqmanager -> dbmanager: environments, secrets -------------


class SetBuild(Request[Changed], frozen=True, tag=True):
    """Conditional: set the build of ``(user, name)`` if it is still at ``version`` and its
    build is not final yet. -> Changed."""

    user: str
    name: str
    version: int
    build: Build


class WaitBuild(Request[FunctionReply], frozen=True, tag=True):
    """Hold until the build of ``(user, name)`` at ``version`` is final, the function is at
    another version, or ``wait`` seconds pass. -> FunctionReply (as it stands), or NotFound."""

    user: str
    name: str
    version: int
    wait: float


class PutSecret(Request[Done], frozen=True, tag=True):
    """Create or replace a user's secret; ``sealed`` is its Fernet token. -> Done, or
    NotFound for an unknown user."""

    user: str
    name: str
    sealed: str


class DeleteSecret(Request[Done], frozen=True, tag=True):
    """-> Done, or NotFound."""

    user: str
    name: str


class SecretsReply(msgspec.Struct, frozen=True, tag=True):
    names: list[str]


class ListSecrets(Request[SecretsReply], frozen=True, tag=True):
    """The names of a user's secrets. -> SecretsReply, or NotFound for an unknown user."""

    user: str


# ---- frontend, jqmanager -> dbmanager: groups (maps) ------------------------------------------


class GroupCreated(msgspec.Struct, frozen=True, tag=True):
    """The group as stored. For a new group its items are the jobs the submission described
    (``unfinished`` is empty); for an ``existing`` one, ``unfinished`` lists its items still
    queued or running."""

    group: GroupRecord
    function: Function
    existing: bool = False
    unfinished: list[JobRecord] = []


class CreateGroup(Request[GroupCreated], frozen=True, tag=True):
    """Store a group and one queued job per item of ``args`` (JSON array texts) in one
    batch; idempotent on the group id and on ``(user, idempotency_key)``. NotFound for an
    unknown user or function."""

    group: GroupRecord
    args: list[str]


class GroupReply(msgspec.Struct, frozen=True, tag=True):
    group: GroupRecord
    counts: GroupCounts


class GetGroup(Request[GroupReply], frozen=True, tag=True):
    """-> GroupReply, or NotFound."""

    id: str


class GroupItems(Request[JobsReply], frozen=True, tag=True):
    """Items of group ``id`` in input order: ``limit`` from index ``offset``, or those at
    ``indices``; ``final_only`` leaves out items not final yet. -> JobsReply."""

    id: str
    offset: int = 0
    limit: int = 1000
    indices: list[int] | None = None
    final_only: bool = False


class GroupsReply(msgspec.Struct, frozen=True, tag=True):
    groups: list[GroupRecord]


class ListGroups(Request[GroupsReply], frozen=True, tag=True):
    """``user``'s groups, newest first, at most ``limit``. -> GroupsReply."""

    user: str
    limit: int = 50


# ---- frontend, worker, scaler -> jqmanager --------------------------------------------------


class Submit(Request[JobReply], frozen=True, tag=True):
    """Store and queue ``submission`` as a new job (persisted before the reply). With
    ``wait`` > 0 the reply is held until the job is final or ``wait`` seconds pass. The reply
    carries the record as it stands."""

    submission: Submission
    wait: float = 0.0


class WaitJob(Request[JobReply], frozen=True, tag=True):
    """Hold until job ``id`` is final or ``wait`` seconds pass. -> JobReply, or NotFound."""

    id: str
    wait: float


class CancelJob(Request[JobReply], frozen=True, tag=True):
    """Cancel a queued or running job (a running child is killed). -> JobReply (final)."""

    id: str


class GroupAccepted(msgspec.Struct, frozen=True, tag=True):
    """The group as stored (an ``existing`` one for a repeated submission)."""

    group: GroupRecord
    existing: bool = False


class SubmitGroup(Request[GroupAccepted], frozen=True, tag=True):
    """Queue one job per item of ``args`` as ``group`` (persisted in one batch before the
    reply)."""

    group: GroupRecord
    args: list[str]


class GroupProgress(msgspec.Struct, frozen=True, tag=True):
    """``finished``: indices of items that finished, in finish order, from ``after`` up to
    ``cursor``. ``remaining``: items not final yet, or None when this jqmanager holds none of
    the group (all final, or not loaded). ``epoch`` changes when the jqmanager restarts (its
    finish logs start again empty)."""

    epoch: str
    cursor: int
    finished: list[int]
    remaining: int | None


class WatchGroup(Request[GroupProgress], frozen=True, tag=True):
    """The items of group ``id`` that finished after position ``after`` of this jqmanager's
    finish log of the group; held up to ``wait`` s until there is one (or, with
    ``until_done``, until every item is final)."""

    id: str
    after: int = 0
    wait: float = 0.0
    until_done: bool = False


class GroupCancelled(msgspec.Struct, frozen=True, tag=True):
    cancelled: int


class CancelGroup(Request[GroupCancelled], frozen=True, tag=True):
    """Cancel every item of group ``id`` not final yet (running ones are killed)."""

    id: str


class Stats(msgspec.Struct, frozen=True, tag=True):
    queued: int
    running: int
    workers: int
    slots: int


class GetStats(Request[Stats], frozen=True, tag=True):
    """-> Stats. The scaler reports its last decision with each request, for ``/metrics``."""

    #: The worker count the scaler last decided (None: no decision yet, or not the scaler).
    desired_workers: int | None = None
    #: Seconds until the sender asks again; jqmanager forgets the report after three of them.
    interval: float | None = None


class Dispatch(msgspec.Struct, frozen=True, tag=True):
    """A job to run now; ``job.attempts`` is this attempt's number."""

    job: JobRecord
    function: Function
    #: Further jobs of the same function (and user), to run after ``job`` in the same slot.
    more: list[JobRecord] = []


class NoJob(msgspec.Struct, frozen=True, tag=True):
    """Nothing arrived while the request was held; ask again."""


class NextJob(Request[Dispatch | NoJob], frozen=True, tag=True):
    """A worker's free slot asks for work; held up to ``wait`` s. -> Dispatch | NoJob.
    ``max_jobs`` > 1 lets the slot take several queued jobs of one function at once."""

    worker: str
    wait: float
    max_jobs: int = 1
    #: Which of the worker's slots asks: a new request of a slot replaces its older one, which
    #: the worker no longer waits for (None: no replacement).
    slot: int | None = None


class Commands(msgspec.Struct, frozen=True, tag=True):
    """Job ids the worker must cancel (kill their sandboxes and report them cancelled)."""

    cancel: list[str] = []


class Heartbeat(Request[Commands], frozen=True, tag=True):
    """A worker is alive, runs ``running`` and has ``slots`` slots in all.

    Held up to ``wait`` s, and answered at once when there is a command for the worker, so it
    doubles as the channel that delivers cancels. ``draining`` asks for no new work.
    """

    worker: str
    running: list[str]
    slots: int
    wait: float
    draining: bool = False
    #: The confinement its sandboxes get, as ``name=value`` pairs joined by commas (e.g.
    #: ``mode=root,landlock_abi=7,seccomp=1,cgroup=v1``); empty when it does not say.
    confinement: str = ""


class Report(Request[Done], frozen=True, tag=True):
    """A finished attempt. The worker resends until it gets Done.

    An outcome in state ``queued`` hands the job back unrun (the worker is draining): it is
    requeued without counting the attempt.
    """

    worker: str
    outcome: Outcome
    #: Outcomes of further jobs of the same dispatch, reported in the same message.
    more: list[Outcome] = []


# ---- scaler -> supervisor (faas-trio up) ----------------------------------------------------


class SetWorkers(Request[Done], frozen=True, tag=True):
    """Run ``count`` worker processes (the local actuator of the scaler). -> Done."""

    count: int


#: Any message: what the wire decoder accepts.
Message = (
    Pong
    | Ping
    | Done
    | ErrorReply
    | PutUser
    | DeleteUser
    | UserReply
    | GetUser
    | FunctionReply
    | PutFunction
    | GetFunction
    | FunctionsReply
    | ListFunctions
    | DeleteFunction
    | JobCreated
    | CreateJob
    | Changed
    | StartJob
    | RequeueJob
    | FinishJob
    | DeleteJob
    | JobReply
    | GetJob
    | LogsReply
    | GetLogs
    | JobsReply
    | ListJobs
    | UnfinishedReply
    | UnfinishedJobs
    | Submit
    | WaitJob
    | CancelJob
    | Stats
    | GetStats
    | Dispatch
    | NoJob
    | NextJob
    | Commands
    | Heartbeat
    | Report
    | SetWorkers
    | Metrics
    | GetMetrics
    | StoreMetrics
    | GetStoreMetrics
    | ChangedMany
    | FinishJobs
    | GroupCreated
    | CreateGroup
    | GroupReply
    | GetGroup
    | GroupItems
    | GroupsReply
    | ListGroups
    | GroupAccepted
    | SubmitGroup
    | GroupProgress
    | WatchGroup
    | GroupCancelled
    | CancelGroup
    | SetBuild
    | WaitBuild
    | PutSecret
    | DeleteSecret
    | SecretsReply
    | ListSecrets
)
