"""The requests the jqmanager answers: submitting, waiting for and cancelling jobs and groups
(frontend), dispatch, heartbeats and reports (worker), stats (scaler). Part of the one schema
of :mod:`.messages`, which re-exports them.
"""

from __future__ import annotations

import msgspec

from .dbmanager_messages import JobReply
from .records import Function, GroupRecord, JobRecord, Outcome, Submission
from .request import Done, Request

__all__ = [
    "CancelGroup",
    "CancelJob",
    "Commands",
    "Dispatch",
    "ForgetFunctions",
    "GetStats",
    "GroupAccepted",
    "GroupCancelled",
    "GroupProgress",
    "Heartbeat",
    "NextJob",
    "NoJob",
    "Report",
    "Stats",
    "Submit",
    "SubmitGroup",
    "WaitJob",
    "WatchGroup",
]


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


class ForgetFunctions(Request[Done], frozen=True, tag=True):
    """``user``'s function ``name`` (every one of the user's when None) changed or is gone:
    the jqmanager no longer starts calls of it before their job is stored, until it learns
    the new version from the store. Sent by the frontend before it answers a change. -> Done.
    """

    user: str
    name: str | None = None


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
