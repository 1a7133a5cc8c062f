"""The requests the jqmanager makes of the dbmanager.

Every call site of the job state machine goes through :class:`DbRequests`, so each request
has its timeout chosen once (the reply's type is checked by the RPC client).
"""

from __future__ import annotations

import logging
from typing import Protocol, TypeVar

import trio

from ..core.errors import FaasError, InternalError, NotFound
from ..core.messages import (
    CreateGroup,
    CreateJob,
    FinishJob,
    FinishJobs,
    GetFunction,
    GetJob,
    GroupCreated,
    JobCreated,
    Request,
    UnfinishedJobs,
    UnfinishedReply,
)
from ..core.records import Function, GroupRecord, JobRecord, Submission

__all__ = ["DbClient", "DbRequests"]

log = logging.getLogger("faas.jqmanager")

R = TypeVar("R")


class DbClient(Protocol):
    """What the jqmanager needs of its dbmanager connection: a
    :class:`~faas_trio.core.rpc.Client`, or an in-process double in tests."""

    # The signature is rpc.Client.call's, whose timeout is the RPC layer's ceiling.
    async def call(self, request: Request[R], *, timeout: float = ...) -> R: ...  # noqa: ASYNC109

    async def call_retrying(
        self, request: Request[R], *, deadline: float, attempt_timeout: float = ...
    ) -> R: ...


class DbRequests:
    """Typed requests to the dbmanager. ``timeout`` bounds one request; ``persist_timeout``
    bounds the retries of a final state.

    Cancellation (every method): only waits on the dbmanager; a request already sent may
    still be applied, which every request here tolerates (all are idempotent or conditional).
    """

    def __init__(self, db: DbClient, *, timeout: float, persist_timeout: float) -> None:
        self.client = db
        self.timeout = timeout
        self.persist_timeout = persist_timeout

    async def create(self, job: Submission) -> JobCreated:
        """Store a new job (idempotent by id and idempotency key); the job as stored, with
        its function.

        Raises:
            NotFound: no such user or function.
            PeerUnavailable: no answer in time (the job may be stored all the same).
        """
        return await self.client.call(CreateJob(job), timeout=self.timeout)

    async def get(self, job_id: str) -> JobRecord:
        """The stored record of ``job_id``.

        Raises:
            NotFound: no such job.
        """
        return (await self.client.call(GetJob(job_id), timeout=self.timeout)).job

    async def function(self, user: str, name: str) -> Function | None:
        """The latest version of ``user``'s function ``name``, or None if there is none."""
        try:
            reply = await self.client.call(GetFunction(user, name), timeout=self.timeout)
        except NotFound:
            return None
        return reply.function

    async def unfinished(self) -> UnfinishedReply:
        """Every queued or running job, with the functions they call."""
        return await self.client.call(UnfinishedJobs(), timeout=self.timeout)

    async def create_group(self, group: GroupRecord, args: list[str]) -> GroupCreated:
        """Store a group and its items in one batch (idempotent like :meth:`create`).

        Raises:
            NotFound: no such user or function.
            PeerUnavailable: no answer in time (the group may be stored all the same).
        """
        # A big group takes the store a while: a second per 10,000 items on top.
        timeout = self.timeout + len(args) / 10_000
        return await self.client.call(CreateGroup(group, args), timeout=timeout)

    async def store_final_many(self, records: list[JobRecord], logs: list[str]) -> list[JobRecord]:
        """:meth:`store_final` for many records in one ``FinishJobs``; the records as stored.

        Raises:
            PeerUnavailable, ProtocolError, InternalError: not stored in time.
        """
        finishes = [FinishJob(record, text) for record, text in zip(records, logs, strict=True)]
        reply = await self.client.call_retrying(
            FinishJobs(finishes), deadline=self.persist_timeout
        )
        if len(reply.applied) != len(records):
            raise InternalError(f"dbmanager answered {len(reply.applied)} of {len(records)}")
        stored = list(records)
        for index, (record, done) in enumerate(zip(records, reply.applied, strict=True)):
            if done is False:  # another writer finished it first: its record is the truth
                with trio.move_on_after(self.timeout):
                    try:
                        found = await self.get(record.id)
                    except FaasError:
                        continue
                    if found.is_final:
                        stored[index] = found
        return stored

    async def store_final(self, record: JobRecord, logs: str) -> JobRecord:
        """Store the final ``record`` (a conditional write: only an unfinished job changes),
        retrying for up to ``persist_timeout``. Returns the final record as stored: ``record``,
        or another writer's if it came first. A deleted job counts as stored.

        Raises:
            PeerUnavailable, ProtocolError: not stored in time.
        """
        try:
            reply = await self.client.call_retrying(
                FinishJob(record, logs), deadline=self.persist_timeout
            )
        except NotFound:
            log.info("job %s was deleted before it finished", record.id)
            return record
        if reply.applied:
            return record
        # Another writer finished it first: its record is the truth.
        with trio.move_on_after(self.timeout):
            try:
                stored = await self.get(record.id)
            except FaasError:
                return record
            if stored.is_final:
                return stored
        return record
