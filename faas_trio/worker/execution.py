"""Running the jobs of a dispatch (one function's) in a warm or new child, each to exactly
one :class:`~faas_trio.core.records.Outcome`.

The jobs go to the child in ONE :class:`~.sandbox.protocol.BatchRequest` frame; the runner
runs them back to back and writes one reply frame per job as each ends. The worker reads
each reply as it comes, timestamps it on its own clock and bills the job from the previous
reply's arrival (or the request's sending) to its own: nothing the runner says of time is
used, and every reply is bounded and checked as a single call's is (:mod:`.sandbox.channel`).

Each job keeps the guarantees of a call of its own: its own deadline (its timeout, counted
from the previous reply), its own logs (the runner captures each job's output apart; what
the child writes straight to its stderr descriptor is given to the job whose reply comes
next), its own cancel (:attr:`BatchItem.run_scope`). When job k times out, crashes its child,
breaks the protocol or is cancelled, the child is killed, job k gets its outcome, and the
jobs after it run in a fresh child: none is lost, none that succeeded runs again. Jobs not
started yet when their item is stopped from outside (cancelled, or handed back by a drain)
get :func:`.stopped_outcome` and never run.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import trio

from ..core.messages import Dispatch
from ..core.records import JobState, Outcome
from .outcomes import acquire_failure, capped_logs, reply_outcome, stopped_outcome
from .pool import RUNNER_SLACK, Checkout, LoadFailed, WarmPool
from .sandbox.process import SandboxError, SandboxTimeout, SandboxUnused
from .sandbox.protocol import MAX_REQUEST_BYTES, BatchRequest, Reply

__all__ = ["BatchItem", "run_batch", "run_job"]

#: Bytes of arguments one batch frame carries at most (the rest go in the next one).
MAX_BATCH_ARGS_BYTES = MAX_REQUEST_BYTES // 2


@dataclass(eq=False)
class BatchItem:
    """One job of a dispatch, as it goes through :func:`run_batch`."""

    dispatch: Dispatch
    #: When its run began (or its stop), wall clock.
    started_at: float = 0.0
    #: Around its run only: cancelling it kills the child running it (or, before it starts,
    #: keeps it from running).
    run_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    #: Why it was stopped from outside: ``cancelled``, or ``queued`` (handed back).
    stop_state: JobState | None = None


Emit = Callable[[Outcome], Awaitable[None]]


async def run_batch(
    pool: WarmPool,
    items: Sequence[BatchItem],
    emit: Emit,
    *,
    log_cap: int,
    result_cap: int,
    draining: Callable[[], bool] = lambda: False,
) -> None:
    """Run ``items`` (jobs of one function) in order and :func:`emit` one outcome for each,
    as each ends: ``succeeded``, ``failed`` (raised, did not load, crashed its child, result
    over ``result_cap`` bytes or not storable), ``timeout``, or its ``stop_state`` when it was
    stopped from outside. Once ``draining()``, the items not started yet are handed back
    (``queued``) and the child is killed after the job it runs.

    Cancellation: an outer cancel kills the child and propagates (the items not emitted get
    nothing); an item's ``run_scope`` stops that item only.
    """
    queue = deque(items)
    while queue:
        head = queue[0]
        if head.stop_state is None and draining():
            head.stop_state = JobState.QUEUED
        if head.stop_state is not None:
            queue.popleft()
            head.started_at = time.time()
            await emit(stopped_outcome(head.dispatch.job, head.stop_state,
                                       started_at=head.started_at))  # fmt: skip
            continue
        await _Child(pool, queue, log_cap, result_cap).run(emit, draining)


async def run_job(pool: WarmPool, dispatch: Dispatch, *, log_cap: int, result_cap: int) -> Outcome:
    """Run ``dispatch``'s job once (a batch of one) and say how it went; see :func:`run_batch`.

    Cancellation: the child running the job is killed and reaped before ``Cancelled``
    propagates (never returned to the pool).
    """
    outcomes: list[Outcome] = []

    async def keep(outcome: Outcome) -> None:
        outcomes.append(outcome)

    await run_batch(pool, [BatchItem(dispatch)], keep, log_cap=log_cap, result_cap=result_cap)
    return outcomes[0]


class _Child:
    """One child's share of a batch: the queue's first items, up to one frame's worth."""

    def __init__(
        self, pool: WarmPool, queue: deque[BatchItem], log_cap: int, result_cap: int
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._log_cap = log_cap
        self._result_cap = result_cap
        self._items = _first_frame(queue)
        function = queue[0].dispatch.function
        self._timeout = function.timeout
        self._request = BatchRequest(
            tuple(item.dispatch.job.args for item in self._items), function.timeout, result_cap
        )
        self._checkout: Checkout | None = None
        #: When the last reply came (or the request was sent): perf counter, wall clock.
        self._last = 0.0
        self._last_wall = 0.0

    async def run(self, emit: Emit, draining: Callable[[], bool]) -> None:
        """Run the items; pop each from the queue as it is emitted. Stops after the first one
        that timed out, crashed or was stopped, or at a drain (the child is then killed and
        the rest stay queued).

        Cancellation: as :func:`run_batch`.
        """
        reusable = False
        try:
            for index, item in enumerate(self._items):
                if index and draining():
                    return
                reply: Reply | None = None
                crash: SandboxError | None = None
                started: Outcome | None = None
                load_logs = ""
                with item.run_scope:
                    if index == 0:
                        started, load_logs, reply, crash = await self._start(item)
                    else:
                        item.started_at = self._last_wall
                        reply, crash = await self._receive(item)
                self._queue.popleft()
                if started is not None:  # no child could be had
                    await emit(started)
                    return
                await emit(self._outcome(item, reply, crash, load_logs, first=index == 0))
                if reply is None or reply.timeout:  # stopped, timed out or crashed
                    return
            reusable = True
        finally:
            if self._checkout is not None:
                await self._pool.release(self._checkout, reusable=reusable)

    async def _start(
        self, head: BatchItem
    ) -> tuple[Outcome | None, str, Reply | None, SandboxError | None]:
        """Check out a child, send it the request and read the head's reply: the head's
        outcome if no child could be had, else the load output (for a cold child), the reply
        and the crash as :meth:`_receive` gives them. A warm child that had died while idle
        never ran anything: once, another is tried.

        Cancellation: a child being started or run is killed.
        """
        for attempt in (1, 2):
            head.started_at = time.time()
            try:
                checkout = await self._pool.acquire(head.dispatch.function)
            except (LoadFailed, SandboxTimeout, SandboxError) as exc:
                logs = capped_logs(self._log_cap, exc.logs if isinstance(exc, LoadFailed) else "")
                failure = acquire_failure(head.dispatch.job, exc, logs=logs,
                                          started_at=head.started_at)  # fmt: skip
                return failure, "", None, None
            self._checkout = checkout
            if not checkout.cold:
                checkout.sandbox.take_stderr()  # output between calls belongs to no call
            self._last, self._last_wall = time.perf_counter(), time.time()
            reply: Reply | None = None
            try:
                await checkout.sandbox.send(self._request)
            except SandboxError as exc:
                crash: SandboxError | None = exc
            else:
                reply, crash = await self._receive(head)
            if isinstance(crash, SandboxUnused) and not checkout.cold and attempt == 1:
                head.run_scope.deadline = math.inf
                self._checkout = None
                await self._pool.release(checkout, reusable=False)
                continue
            return None, checkout.load_logs if checkout.cold else "", reply, crash
        raise AssertionError("unreachable")

    async def _receive(self, item: BatchItem) -> tuple[Reply | None, SandboxError | None]:
        """``item``'s reply, or the crash. Called in its ``run_scope``, which it gives the
        item's deadline (its timeout, from now: the previous reply's arrival), so one scope
        per item does both (a scope cancelled with no ``stop_state`` timed out).

        Cancellation: the child is killed (see :meth:`.Sandbox.receive`).
        """
        assert self._checkout is not None
        item.run_scope.deadline = trio.current_time() + self._timeout + RUNNER_SLACK
        try:
            return await self._checkout.sandbox.receive(self._request), None
        except SandboxError as exc:
            return None, exc

    def _outcome(
        self,
        item: BatchItem,
        reply: Reply | None,
        crash: SandboxError | None,
        load_logs: str,
        *,
        first: bool,
    ) -> Outcome:
        """``item``'s outcome, billed from the previous reply's arrival to now."""
        now = time.perf_counter()
        duration_ms, self._last = (now - self._last) * 1000.0, now
        job = item.dispatch.job
        if item.run_scope.cancelled_caught and item.stop_state is not None:
            made = stopped_outcome(job, item.stop_state, started_at=item.started_at)
        else:
            assert self._checkout is not None
            cold = first and self._checkout.cold
            logs = capped_logs(
                self._log_cap, load_logs, reply.logs if reply else "",
                self._checkout.sandbox.take_stderr(),
            )  # fmt: skip
            made = reply_outcome(
                job, reply, crash, timeout=self._timeout, result_cap=self._result_cap,
                logs=logs, started_at=item.started_at, duration_ms=duration_ms, cold_start=cold,
                init_ms=self._checkout.init_ms if cold else 0.0,
            )  # fmt: skip
        self._last_wall = time.time()  # the next item's start: never before this one's end
        return made


def _first_frame(queue: deque[BatchItem]) -> list[BatchItem]:
    """The queue's first items, up to :data:`MAX_BATCH_ARGS_BYTES` of arguments (one at
    least) and up to one that was stopped meanwhile (it must not run)."""
    items: list[BatchItem] = []
    size = 0
    for item in queue:
        # A character of the arguments takes at most 6 bytes of the frame (an escape).
        size += 6 * len(item.dispatch.job.args)
        if items and (size > MAX_BATCH_ARGS_BYTES or item.stop_state is not None):
            break
        items.append(item)
    return items
