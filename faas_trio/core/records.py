"""The records that components store and pass around: users, functions, jobs, and what a
worker observed running one. Plain data, no behaviour beyond what a field means.

They travel inside the messages of :mod:`faas_trio.core.messages`; the stores
(:mod:`faas_trio.store`) keep them; how users see them over HTTP is
:mod:`faas_trio.core.public`.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = [
    "FINAL_STATES",
    "Build",
    "BuildState",
    "Function",
    "GroupCounts",
    "GroupRecord",
    "Histogram",
    "JobRecord",
    "JobState",
    "Outcome",
    "Runtime",
    "Submission",
    "User",
]


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


class Submission(msgspec.Struct, frozen=True, kw_only=True):
    """A call of a function as its caller asks for it: only what the caller supplies. The
    store makes a :class:`JobRecord` of it (runtime from the function, state queued)."""

    id: str
    user: str
    function: str
    #: The JSON text of the arguments array.
    args: str
    created_at: float = 0.0
    idempotency_key: str | None = None
    callback: str | None = None


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
    #: The map this job is an item of, and its place in the map's input (None: a single call).
    group_id: str | None = None
    group_index: int | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class GroupRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A map: ``function`` called once per item of a list of argument arrays. Item ``i`` is
    the ordinary job :func:`~faas_trio.core.groups.item_job_id` ``(id, i)``; the group holds
    no state of its own (its counts are its items')."""

    id: str
    user: str
    function: str
    total: int
    created_at: float = 0.0
    idempotency_key: str | None = None


class GroupCounts(msgspec.Struct, frozen=True, kw_only=True):
    """A group's items by state, and when its first item started and its last one ended."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    timeout: int = 0
    cancelled: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def final(self) -> int:
        """Items in a final state."""
        return self.succeeded + self.failed + self.timeout + self.cancelled


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


class Histogram(msgspec.Struct, frozen=True, kw_only=True):
    """Observations counted by bucket, as Prometheus keeps them.

    ``counts[i]`` is how many observations were at most ``bounds[i]`` (cumulative); ``count``
    is all of them (the ``+Inf`` bucket) and ``sum`` their total.
    """

    bounds: list[float]
    counts: list[int]
    count: int = 0
    sum: float = 0.0
