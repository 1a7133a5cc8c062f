"""The requests the dbmanager answers: users, functions, jobs, environments, secrets and groups
in the store. Part of the one schema of :mod:`.messages`, which re-exports them; each section
says who sends them.
"""

from __future__ import annotations

import msgspec

from .records import (
    Build,
    Function,
    GroupCounts,
    GroupRecord,
    JobRecord,
    JobState,
    Submission,
    User,
)
from .request import Done, Request

__all__ = [
    "Changed",
    "ChangedMany",
    "CreateGroup",
    "CreateJob",
    "DeleteFunction",
    "DeleteJob",
    "DeleteSecret",
    "DeleteUser",
    "FinishJob",
    "FinishJobs",
    "FunctionReply",
    "FunctionsReply",
    "GetFunction",
    "GetGroup",
    "GetJob",
    "GetLogs",
    "GetUser",
    "GroupCreated",
    "GroupItems",
    "GroupReply",
    "GroupsReply",
    "JobCreated",
    "JobReply",
    "JobsReply",
    "ListFunctions",
    "ListGroups",
    "ListJobs",
    "ListSecrets",
    "LogsReply",
    "PutFunction",
    "PutSecret",
    "PutUser",
    "RequeueJob",
    "SecretsReply",
    "SetBuild",
    "StartJob",
    "UnfinishedJobs",
    "UnfinishedReply",
    "UserReply",
    "WaitBuild",
]


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
