"""The store seam: what dbmanager needs from a database, and how a backend is chosen.

A backend implements :class:`Store`. Writes arrive as a batch (:meth:`Store.apply`) so that the
dbmanager can group-commit whatever requests arrived together: the whole batch is one SQLite
transaction, or one MongoDB ``bulk_write`` (plus the reads its checks need). Each write in a
batch succeeds or fails on its own; a failed check (unknown user…) fails that write only.

Guarantees every backend keeps (the contract suite in ``tests/store`` checks them):

- ``CreateJob`` inserts only when the user and the function exist, and is idempotent on the
  job id and on ``(user, idempotency_key)``: a repeat returns the stored job, ``existing=True``.
- ``StartJob``, ``RequeueJob`` and ``FinishJob`` are conditional: a job in a final state never
  changes again, and ``Changed.applied`` says whether the change happened. ``FinishJob`` adds
  the job's ``duration_ms`` to its user's ``execution_time_ms``, only when applied, exactly
  once even across a crash between the two writes: SQLite makes both in one transaction;
  MongoDB counts the time idempotently and applies, when it opens, what a crash left
  uncounted (:mod:`.mongo_jobs`).
- ``PutUser`` on an existing user resets it: its functions are dropped, its time kept at zero.
- ``DeleteUser`` deletes the user's jobs too (records and logs): a name registered again
  starts empty, and no one who takes it can read the jobs of its former owner.
- ``PutFunction`` assigns ``version`` = the last version that ``(user, name)`` ever had + 1, so
  a function deleted and registered again never reuses a version (warm processes are keyed
  by it).
- ``CreateJob`` takes the job's ``runtime`` from its function, and answers the function with
  the sealed values of the secrets it names (as does ``unfinished_jobs``); a function is never
  stored with them.
- ``SetBuild`` applies only to the version it names and only while its build is not final.
- Secrets belong to their user: ``PutUser`` (a reset) and ``DeleteUser`` drop them.
- Each user's stored bytes (:meth:`Store.stored_bytes`) are what its jobs hold: the
  :func:`stored_size` of each, counted when a job is created and again when it finishes, and
  no longer once it is deleted or swept (or its user deleted).
- ``create_group`` stores a group and all its items, or nothing (a retry completes a group
  whose items were cut short); it is idempotent on the group id and on
  ``(user, idempotency_key)`` like ``CreateJob``, and its items are built by
  :func:`~faas_trio.core.groups.group_jobs`, so every process names and fills them alike.

Backends translate their own errors (``sqlite3.Error``, pymongo errors) at this seam:
a check that fails raises :class:`~faas_trio.core.errors.NotFound` or ``BadRequest``; a database
that cannot be reached raises :class:`~faas_trio.core.errors.PeerUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from ..core.errors import FaasError
from ..core.groups import group_jobs
from ..core.jobs import created_job
from ..core.messages import (
    Changed,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    Done,
    FinishJob,
    FunctionReply,
    GroupCreated,
    JobCreated,
    PutFunction,
    PutSecret,
    PutUser,
    RequeueJob,
    SetBuild,
    StartJob,
    StoreMetrics,
)
from ..core.records import Function, GroupCounts, GroupRecord, JobRecord, JobState, User

__all__ = [
    "Store", "WriteOp", "WriteResult", "created_group", "created_job", "group_jobs",
    "stored_function", "stored_size", "text_size",
]

#: The writes a batch may hold.
WriteOp = (
    PutUser
    | DeleteUser
    | PutFunction
    | DeleteFunction
    | CreateJob
    | StartJob
    | RequeueJob
    | FinishJob
    | DeleteJob
    | SetBuild
    | PutSecret
    | DeleteSecret
)
#: Per write, its reply or the error it raised (the batch goes on past it).
WriteResult = Done | FunctionReply | JobCreated | Changed | FaasError


def text_size(text: str | None) -> int:
    """The bytes ``text`` takes as UTF-8 (0 for None)."""
    if not text:
        return 0
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def stored_size(job: JobRecord, logs: str = "") -> int:
    """The bytes of what a user put in the store with ``job``: its arguments, result, value,
    error and ``logs``; what a per-user cap on stored bytes counts."""
    return sum(text_size(t) for t in (job.args, job.result, job.value, job.error, logs))


def stored_function(function: Function, version: int, now: float) -> Function:
    """The function a ``PutFunction`` stores: the caller's fields with the store's version
    and time; never sealed secret values."""
    return msgspec.structs.replace(function, version=version, updated_at=now, sealed={})
def created_group(submitted: GroupRecord, now: float) -> GroupRecord:
    """The group a ``create_group`` of ``submitted`` stores (its creation time, else ``now``)."""
    return msgspec.structs.replace(submitted, created_at=submitted.created_at or now)


class Store(Protocol):
    """A database holding users, functions, jobs and job logs."""

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply ``ops`` in order as one transaction (or bulk write) and return one result
        per op. Raises ``PeerUnavailable`` only when the database itself failed, in which case
        no op of the batch is applied."""
        ...

    async def get_user(self, name: str) -> User | None: ...

    async def get_function(self, user: str, name: str) -> Function | None: ...

    async def list_functions(self, user: str) -> list[Function]: ...

    async def list_secrets(self, user: str) -> list[str] | None:
        """The names of the user's secrets, sorted; None for an unknown user."""
        ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def get_logs(self, job_id: str) -> str | None: ...

    async def list_jobs(self, user: str, state: JobState | None, limit: int) -> list[JobRecord]:
        """The user's jobs, newest first, at most ``limit``."""
        ...

    async def unfinished_jobs(self) -> tuple[list[JobRecord], list[Function]]:
        """Queued and running jobs, oldest first, and the functions they call."""
        ...

    async def create_group(self, group: GroupRecord, args: Sequence[str]) -> GroupCreated:
        """Store ``group`` and its items (:func:`group_jobs`) as one batch; see the module
        docstring. Raises ``NotFound`` for an unknown user or function, ``Conflict`` when the
        group id belongs to another user."""
        ...

    async def get_group(self, group_id: str) -> tuple[GroupRecord, GroupCounts] | None:
        """The group and its items' counts by state, or None."""
        ...

    async def group_items(
        self,
        group_id: str,
        offset: int,
        limit: int,
        indices: Sequence[int] | None,
        final_only: bool,
    ) -> list[JobRecord]:
        """Items of the group in input order: ``limit`` from index ``offset``, or those at
        ``indices``; ``final_only`` leaves out those not final."""
        ...

    async def list_groups(self, user: str, limit: int) -> list[GroupRecord]:
        """The user's groups, newest first, at most ``limit``."""
        ...

    async def stored_bytes(self, user: str) -> int:
        """The bytes the jobs of ``user`` hold now (see :func:`stored_size`); 0 for an unknown
        user."""
        ...

    async def sweep(self, finished_before: float) -> int:
        """Remove final jobs finished before that time, and groups left without items;
        return how many jobs."""
        ...

    def metrics(self) -> StoreMetrics:
        """What the store sent to its database so far: commands (round trips) by store
        operation, and their durations."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads. Idempotent."""
        ...
