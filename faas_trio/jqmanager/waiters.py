"""Completions: requests held until a job reaches its final state, and recent final records.

Each job that someone waits for has one entry (an event and, once final, the record), shared
by all its waiters and dropped when the last one leaves; a job nobody waits for costs nothing.
The most recent final records are kept a while, so that a late wait, cancel or report is
answered from memory rather than from the dbmanager.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import trio

from ..core.records import JobRecord

__all__ = ["Completions"]


@dataclass(slots=True)
class _Pending:
    event: trio.Event = field(default_factory=trio.Event)
    record: JobRecord | None = None
    waiters: int = 0


class Completions:
    """Waiters by job id, and the last ``keep`` final records."""

    def __init__(self, *, keep: int = 10_000) -> None:
        self._keep = keep
        self._pending: dict[str, _Pending] = {}
        self._recent: OrderedDict[str, JobRecord] = OrderedDict()

    def final(self, job_id: str) -> JobRecord | None:
        """The final record of ``job_id`` if it finished recently, else None."""
        return self._recent.get(job_id)

    def finish(self, record: JobRecord) -> None:
        """``record`` is final: remember it and wake every waiter of its job."""
        self._recent[record.id] = record
        self._recent.move_to_end(record.id)
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)
        pending = self._pending.pop(record.id, None)
        if pending is not None:
            pending.record = record
            pending.event.set()

    async def wait(self, job_id: str) -> JobRecord:
        """The final record of ``job_id``, once :meth:`finish` is called for it. The waiter is
        registered before this first blocks, so a finish that happens after the caller looked
        at the job's state is never missed. Callers bound the wait (``trio.move_on_after``).

        Cancellation: blocks until the job finishes; a cancel unregisters the waiter and
        leaves the others untouched.
        """
        done = self._recent.get(job_id)
        if done is not None:
            return done
        pending = self._pending.get(job_id)
        if pending is None:
            pending = self._pending[job_id] = _Pending()
        pending.waiters += 1
        try:
            await pending.event.wait()
        finally:
            pending.waiters -= 1
            if pending.waiters == 0 and self._pending.get(job_id) is pending:
                del self._pending[job_id]
        assert pending.record is not None
        return pending.record

    @property
    def waiting(self) -> int:
        """Jobs with at least one waiter."""
        return len(self._pending)
