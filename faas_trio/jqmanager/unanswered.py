"""Submissions whose ``CreateJob`` or ``CreateGroup`` got no answer, resent until the
dbmanager answers.

A submission answered 503 because the dbmanager did not answer may have been stored all the
same (it hung, or died before replying). So that such a job (or a map's group) never waits
unqueued until the next restart, its creation (idempotent) is resent until answered, and
what it finds stored is taken over. During a long outage every refused submission lands
here, so the set is bounded, and drained by one task rather than one task per submission:

- at most ``max_count`` submissions (a group counts one) and ``max_bytes`` of their
  arguments are kept; beyond, the oldest is dropped (logged). A dropped job or group that the
  dbmanager did store is loaded by the next jqmanager start, like any stored unfinished job;
- one task resends them oldest first with :class:`~faas_trio.core.retry.Backoff`, and exits
  when the set is empty.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from ..core.errors import FaasError, PeerUnavailable
from ..core.messages import GroupCreated, JobCreated
from ..core.records import GroupRecord, Submission
from ..core.retry import Backoff

__all__ = ["UnansweredCreates"]

log = logging.getLogger("faas.jqmanager")


@dataclass(frozen=True, slots=True)
class _GroupResend:
    """A group's creation to resend: the request and what to do with its answer."""

    group: GroupRecord
    args: list[str]
    create: Callable[[GroupRecord, list[str]], Awaitable[GroupCreated]]
    created: Callable[[GroupCreated], Awaitable[None]]


def _size(pending: Submission | _GroupResend) -> int:
    if isinstance(pending, Submission):
        return len(pending.args)
    return sum(len(text) for text in pending.args)


def _what(pending: Submission | _GroupResend) -> str:
    return f"job {pending.id}" if isinstance(pending, Submission) else f"group {pending.group.id}"


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
        #: Oldest first (dicts keep insertion order), by job or group id.
        self._pending: dict[str, Submission | _GroupResend] = {}
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
        self._add(submission.id, submission)

    def add_group(
        self,
        group: GroupRecord,
        args: list[str],
        create: Callable[[GroupRecord, list[str]], Awaitable[GroupCreated]],
        created: Callable[[GroupCreated], Awaitable[None]],
    ) -> None:
        """Resend the ``CreateGroup`` of ``group`` (items ``args``) with ``create`` until it is
        answered, then hand the answer to ``created``."""
        self._add(group.id, _GroupResend(group, args, create, created))

    def _add(self, key: str, pending: Submission | _GroupResend) -> None:
        if key in self._pending:
            return
        self._pending[key] = pending
        self._bytes += _size(pending)
        while len(self._pending) > self.max_count or self._bytes > self.max_bytes:
            oldest = self._pop(next(iter(self._pending)))
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:  # a long outage logs little
                log.warning(
                    "%d submissions (the last: %s) got no answer to their creation while too"
                    " many such were held; those the dbmanager stored run after the next"
                    " jqmanager start",
                    self.dropped,
                    _what(oldest),
                )
        if not self._draining and self._pending:
            self._draining = True
            self._nursery.start_soon(self._drain)

    def _pop(self, key: str) -> Submission | _GroupResend:
        pending = self._pending.pop(key)
        self._bytes -= _size(pending)
        return pending

    async def _drain(self) -> None:
        """Resend the oldest creation until every one is answered.

        Cancellation: stops resending; what was stored meanwhile is loaded at the next start.
        """
        backoff = Backoff(0.1, 2.0)
        try:
            while self._pending:
                key, pending = next(iter(self._pending.items()))
                try:
                    if isinstance(pending, Submission):
                        reply: JobCreated | GroupCreated = await self._create(pending)
                    else:
                        reply = await pending.create(pending.group, pending.args)
                except PeerUnavailable:
                    await backoff.sleep()
                    continue
                except FaasError as exc:
                    if self._pending.get(key) is pending:
                        self._pop(key)
                    log.info("%s, unanswered at submission, was not stored: %s", _what(pending),
                             exc)  # fmt: skip
                    continue
                backoff.reset()
                if self._pending.get(key) is pending:
                    self._pop(key)
                if isinstance(reply, JobCreated):
                    self._created(reply)
                elif isinstance(pending, _GroupResend):
                    await pending.created(reply)
        finally:
            self._draining = False
