"""Group commit: writes from many concurrent requests share few transactions.

A request task hands its write to :meth:`GroupCommitter.write` and waits. One committer task
(:meth:`GroupCommitter.run`) takes everything that is waiting, up to ``max_batch`` writes,
applies it as one :meth:`Store.apply` batch (one transaction, one fsync), and wakes each
writer with its own result. While a batch commits, the next one gathers, so under load each
transaction carries many writes and under light load a lone write commits at once.

A job transition (``StartJob``, ``RequeueJob``, ``FinishJob``) equal to one still queued or
being applied is not applied again: its writer shares the first one's outcome. The jqmanager
sends such a write again when no answer came within its attempt timeout, which happens
exactly when the store is slow; applying each resend would make it slower still.
"""

from __future__ import annotations

import logging

import trio

from ..core.errors import FaasError, InternalError, PeerUnavailable, error_from_code
from ..core.messages import (
    Changed,
    Done,
    FinishJob,
    FunctionReply,
    JobCreated,
    RequeueJob,
    StartJob,
)
from ..store import Store, WriteOp, WriteResult

__all__ = ["GroupCommitter", "WriteReply"]

#: What a successful write answers.
WriteReply = Done | FunctionReply | JobCreated | Changed

log = logging.getLogger("faas.dbmanager")


class _PendingWrite:
    __slots__ = ("done", "op", "result")

    def __init__(self, op: WriteOp) -> None:
        self.op = op
        self.done = trio.Event()
        self.result: WriteResult | None = None

    def resolve(self, result: WriteResult) -> None:
        self.result = result
        self.done.set()


def _is_transition(op: WriteOp) -> bool:
    """Whether ``op`` is a job transition (all its fields hashable, so it can be a key)."""
    if not isinstance(op, StartJob | RequeueJob | FinishJob):
        return False
    try:
        hash(op)
    except TypeError:  # a field of a later message version that cannot be hashed
        return False
    return True


class GroupCommitter:
    """Batches concurrent writes into shared transactions on ``store``.

    Guarantees: writes are applied in the order :meth:`write` was called; a write returns
    only after the transaction holding it committed; a write that raises the ``FaasError``
    of its own op (``NotFound``…) changed nothing, and neither did one that raises
    ``PeerUnavailable`` or ``InternalError`` because its whole batch failed, except as
    stated under Cancellation in :meth:`run`. A transition equal to one not yet settled
    shares its outcome (see the module docstring).
    """

    def __init__(self, store: Store, *, max_batch: int = 256, max_waiting: int = 4096) -> None:
        self._store = store
        self._max_batch = max_batch
        self._send, self._receive = trio.open_memory_channel[_PendingWrite](max_waiting)
        #: Transitions queued or being applied (frozen messages: equal ones hash alike).
        self._unsettled: dict[WriteOp, _PendingWrite] = {}

    async def _queued(self, op: WriteOp) -> tuple[_PendingWrite, bool]:
        """The pending write of ``op``: queued now, or an equal transition's not yet settled
        (then also False).

        Cancellation: as :meth:`write`.
        """
        transition = _is_transition(op)
        if transition and (same := self._unsettled.get(op)) is not None:
            return same, False
        pending = _PendingWrite(op)
        if transition:  # before the send: the batch may settle it before send returns
            self._unsettled[op] = pending
        try:
            await self._send.send(pending)
        except BaseException as exc:  # not queued
            if transition and self._unsettled.get(op) is pending:
                del self._unsettled[op]
                # Writers that shared it meanwhile must not wait for a write never queued.
                pending.resolve(PeerUnavailable("dbmanager did not queue the write"))
            if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
                raise PeerUnavailable("dbmanager is not accepting writes (stopping)") from exc
            raise
        return pending, True

    def _settle(self, pending: _PendingWrite, result: WriteResult) -> None:
        if _is_transition(pending.op) and self._unsettled.get(pending.op) is pending:
            del self._unsettled[pending.op]
        pending.resolve(result)

    async def write(self, op: WriteOp) -> WriteReply:
        """Apply ``op`` in the next batch and return its reply once committed.

        Raises:
            FaasError: the op failed its checks (``NotFound``, ``Conflict``, ``BadRequest``),
                or its batch failed (``PeerUnavailable``, ``InternalError``).
            PeerUnavailable: the committer is not running (stopped, or never started).

        Cancellation: a cancel while more than ``max_waiting`` writes are queued leaves
        nothing queued; a cancel once queued does not withdraw the write, which may still
        commit.
        """
        pending, own = await self._queued(op)
        await pending.done.wait()
        result = pending.result
        if isinstance(result, FaasError):
            raise result if own else _copy(result)
        if result is None:  # resolve() always sets it before done
            raise InternalError("a write finished without a result")
        return result

    async def write_many(self, ops: list[WriteOp]) -> list[WriteResult]:
        """Apply ``ops`` in order, in the next batches, and return each one's reply or error
        once all are committed (their batches may hold other writers' writes too).

        Raises:
            PeerUnavailable: the committer is not running.

        Cancellation: as :meth:`write`; writes already queued may still commit.
        """
        pending = [(await self._queued(op))[0] for op in ops]
        results: list[WriteResult] = []
        for each in pending:
            await each.done.wait()
            result = each.result
            results.append(result if result is not None else InternalError("no result"))
        return results

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit batches of queued writes until cancelled. Run it once, in a nursery.

        Cancellation: waits for writes; a batch the store has begun is finished by the store
        (SQLite commits or rolls back before the cancel lands) and its writers get their
        results. A backend that gives up mid-batch leaves those writes' fate unknown: their
        writers get ``PeerUnavailable``. Writes still queued get ``PeerUnavailable`` and were
        not applied; later writes fail at once.
        """
        task_status.started()
        try:
            async for first in self._receive:
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self._commit(batch)
        finally:
            stopped = PeerUnavailable("dbmanager stopped before the write was applied")
            while True:
                try:
                    self._settle(self._receive.receive_nowait(), _copy(stopped))
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            self._receive.close()

    async def _commit(self, batch: list[_PendingWrite]) -> None:
        try:
            results = await self._store.apply([pending.op for pending in batch])
            if len(results) != len(batch):
                raise InternalError(f"the store answered {len(results)} of {len(batch)} writes")
        except FaasError as exc:
            log.warning("a batch of %d writes failed: %s", len(batch), exc)
            results = [_copy(exc) for _ in batch]
        except Exception as exc:
            log.exception("a batch of %d writes failed", len(batch))
            failure = InternalError("the store failed on a batch of writes")
            failure.__cause__ = exc
            results = [_copy(failure) for _ in batch]
        except BaseException:
            unknown = PeerUnavailable("dbmanager stopped while the write was being applied")
            for pending in batch:
                self._settle(pending, _copy(unknown))
            raise
        for pending, result in zip(batch, results, strict=True):
            self._settle(pending, result)


def _copy(error: FaasError) -> FaasError:
    # One instance per waiter: each writer raises its own exception object.
    copy = error_from_code(error.code, error.message, error.retry_after)
    copy.__cause__ = error.__cause__ or error
    return copy
