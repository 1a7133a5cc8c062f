"""Submissions whose ``CreateJob`` got no answer, resent until the dbmanager answers.

A submission answered 503 because the dbmanager did not answer may have been stored all the
same (it hung, or died before replying). So that such a job never waits unqueued until the
next restart, its ``CreateJob`` (idempotent) is resent until answered, and a job it finds
stored is taken over. During a long outage every refused submission lands here, so the set is
bounded, and drained by one task rather than one task per submission:

- at most ``max_count`` submissions and ``max_bytes`` of their arguments are kept; beyond,
  the oldest is dropped (logged). A dropped job that the dbmanager did store is loaded by the
  next jqmanager start, like any stored unfinished job;
- one task resends them oldest first with :class:`~faas_trio.core.retry.Backoff`, and exits
  when the set is empty.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from ..core.errors import FaasError, PeerUnavailable
from ..core.messages import JobCreated
from ..core.records import Submission
from ..core.retry import Backoff

__all__ = ["UnansweredCreates"]

log = logging.getLogger("faas.jqmanager")


class UnansweredCreates:
    """Resends ``create(submission)`` for each :meth:`add`-ed submission until answered, then
    calls ``created(reply)``; one task of ``nursery`` at a time."""

    def __init__(
        self,
        create: Callable[[Submission], Awaitable[JobCreated]],
        created: Callable[[JobCreated], None],
        nursery: trio.Nursery,
        *,
        max_count: int = 10_000,
        max_bytes: int = 64 << 20,
    ) -> None:
        self._create = create
        self._created = created
        self._nursery = nursery
        self.max_count = max_count
        self.max_bytes = max_bytes
        #: Oldest first (dicts keep insertion order).
        self._pending: dict[str, Submission] = {}
        self._bytes = 0
        self._draining = False
        #: Submissions dropped to keep the bound, since start.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def bytes(self) -> int:
        """Bytes of arguments held."""
        return self._bytes

    def add(self, submission: Submission) -> None:
        """Resend ``submission``'s ``CreateJob`` in the background until it is answered."""
        if submission.id in self._pending:
            return
        self._pending[submission.id] = submission
        self._bytes += len(submission.args)
        while len(self._pending) > self.max_count or self._bytes > self.max_bytes:
            oldest = self._pop(next(iter(self._pending)))
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:  # a long outage logs little
                log.warning(
                    "%d jobs (the last %s) got no answer to their creation while too many"
                    " such jobs were held; those the dbmanager stored run after the next"
                    " jqmanager start",
                    self.dropped,
                    oldest.id,
                )
        if not self._draining and self._pending:
            self._draining = True
            self._nursery.start_soon(self._drain)

    def _pop(self, job_id: str) -> Submission:
        submission = self._pending.pop(job_id)
        self._bytes -= len(submission.args)
        return submission

    async def _drain(self) -> None:
        """Resend the oldest submission's ``CreateJob`` until every one is answered.

        Cancellation: stops resending; jobs stored meanwhile are loaded at the next start.
        """
        backoff = Backoff(0.1, 2.0)
        try:
            while self._pending:
                submission = next(iter(self._pending.values()))
                try:
                    reply = await self._create(submission)
                except PeerUnavailable:
                    await backoff.sleep()
                    continue
                except FaasError as exc:
                    if self._pending.get(submission.id) is submission:
                        self._pop(submission.id)
                    log.info("job %s, unanswered at submission, was not stored: %s",
                             submission.id, exc)
                    continue
                backoff.reset()
                if self._pending.get(submission.id) is submission:
                    self._pop(submission.id)
                self._created(reply)
        finally:
            self._draining = False
