"""Early dispatch: a sync call starts on a waiting worker while its job is being stored.

A call with ``?wait=`` used to cross the store twice in a row before it could run: the
``CreateJob`` (one fsynced commit) and only then the dispatch. When a worker slot is waiting
and nothing is queued, the jqmanager now hands the job to that slot at once, with the
function it was last stored with (remembered from earlier ``JobCreated`` answers), and
stores the job at the same time. The guarantees stay as they were:

- the submission is answered only after the store answered the ``CreateJob``;
- no final state of the job is written before that answer (:meth:`EarlyStarts.settled`:
  every path that stores a final state, reports and cancels first wait for it), so a final
  state is never written for a job the store does not have, and it is stored before anyone
  is told;
- the function that ran is the one the store answered: if the ``CreateJob`` answer differs
  the early attempt is *void*: its report is ignored and the job is queued as stored (its
  next attempt has another number, so the two are never confused); if the store refuses
  the ``CreateJob`` (no such user or function), the attempt is void and its worker is told
  to cancel it; if the store does not answer, the attempt is void but left to end (the job
  may be stored all the same and run later, and a cancel goes by job id).

The frontend tells the jqmanager (``ForgetFunctions``) before it answers a deploy, a removal
or a change of secrets, so a call made after such a change was answered never starts with
what it replaced; only a call racing the change can, and its early attempt is then void. An
answer to a ``CreateJob`` sent before such a notice may carry the old function, so it is not
remembered (:meth:`EarlyStarts.remember` with the :meth:`EarlyStarts.mark` taken before).
Submissions with an ``Idempotency-Key`` never start early: the store alone knows whether the
key names an older job, and a retried call must not run twice.
"""

from __future__ import annotations

from collections import OrderedDict

import trio

from ..core.records import BuildState, Function

__all__ = ["EarlyStarts"]

#: Functions remembered for early dispatch (the most recently used ones).
REMEMBERED_FUNCTIONS = 4096
#: Void attempts remembered until their report comes.
REMEMBERED_VOID = 10_000


class EarlyStarts:
    """The functions jobs were last created with, and the jobs started before their
    ``CreateJob`` was answered."""

    def __init__(self) -> None:
        self._functions: OrderedDict[tuple[str, str], Function] = OrderedDict()
        #: Job id -> set once its ``CreateJob`` is answered (or failed).
        self._pending: dict[str, trio.Event] = {}
        #: (job id, attempt) of early attempts whose results must be ignored, oldest first
        #: (bounded: an attempt whose worker died is never reported).
        self._void: OrderedDict[tuple[str, int], None] = OrderedDict()
        #: How many notices of a change (:meth:`forget`) came so far.
        self._forgets = 0

    def mark(self) -> int:
        """Taken before a ``CreateJob`` is sent, for :meth:`remember`."""
        return self._forgets

    def remember(self, function: Function, since: int | None = None) -> None:
        """``function`` is what the store answered a ``CreateJob`` with: the latest known,
        unless a function changed (:meth:`forget`) after :meth:`mark` returned ``since``
        (the request may have been answered from before that change)."""
        if since is not None and since != self._forgets:
            return
        key = (function.user, function.name)
        self._functions[key] = function
        self._functions.move_to_end(key)
        while len(self._functions) > REMEMBERED_FUNCTIONS:
            self._functions.popitem(last=False)

    def forget(self, user: str, name: str | None = None) -> None:
        """``user``'s function ``name`` (all of the user's when None) changed: no early start
        of it until a ``CreateJob`` sent after this answers its new version."""
        self._forgets += 1
        if name is not None:
            self._functions.pop((user, name), None)
            return
        for key in [key for key in self._functions if key[0] == user]:
            del self._functions[key]

    def function(self, user: str, name: str) -> Function | None:
        """The function ``user``'s ``name`` was last created with, if ready to run."""
        function = self._functions.get((user, name))
        if function is None or (function.build is not None and function.build.state is not (
            BuildState.READY
        )):  # fmt: skip
            return None
        return function

    def begin(self, job_id: str) -> None:
        """``job_id`` was dispatched before its ``CreateJob`` was answered."""
        self._pending[job_id] = trio.Event()

    def end(self, job_id: str) -> None:
        """The ``CreateJob`` of ``job_id`` was answered (or failed): let its final state be
        written (idempotent)."""
        event = self._pending.pop(job_id, None)
        if event is not None:
            event.set()

    def void(self, job_id: str, attempt: int) -> None:
        """Ignore the result of ``job_id``'s early ``attempt``."""
        self._void[(job_id, attempt)] = None
        while len(self._void) > REMEMBERED_VOID:
            self._void.popitem(last=False)

    def is_void(self, job_id: str, attempt: int) -> bool:
        """Whether a report of ``job_id``'s ``attempt`` is of a void early attempt (the
        first such report forgets it: a void attempt is reported once)."""
        return self._void.pop((job_id, attempt), False) is None

    async def settled(self, job_id: str) -> None:
        """Return once ``job_id``'s ``CreateJob`` was answered (at once for any other job).

        Cancellation: only waits.
        """
        event = self._pending.get(job_id)
        if event is not None:
            await event.wait()
