"""What the store is asked to write, checked at its door.

A write the database cannot hold (a NaN time, an attempt count over 64 bits, arguments nested
deeper than a document may be) would fail on every retry of its sender, so each write is
clamped or refused here, once, before the committer sees it: job records are bounded by
:func:`~faas_trio.core.bounds.bounded_record`, and a job whose arguments no store can hold is
refused with :class:`~faas_trio.core.errors.BadRequest`.
"""

from __future__ import annotations

import math
from typing import TypeVar

import msgspec

from ..core.bounds import MAX_ATTEMPTS, MAX_TIME, bounded_record, clamp, stored_json_problem
from ..core.errors import BadRequest
from ..core.messages import CreateJob, FinishJob, RequeueJob, StartJob
from ..store.base import WriteOp

__all__ = ["admitted"]

Write = TypeVar("Write", bound=WriteOp)


def admitted(request: Write) -> Write:
    """``request`` as the store may apply it (itself when nothing needed changing).

    Raises:
        BadRequest: a ``CreateJob`` whose arguments are not JSON a store can hold.
    """
    match request:
        case CreateJob(submission=submission):
            try:
                args = msgspec.json.decode(submission.args)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise BadRequest(f"the job's arguments cannot be stored: {exc}") from None
            problem = stored_json_problem(args)
            if problem is not None:
                raise BadRequest(f"the job's arguments cannot be stored: they hold {problem}")
            if math.isfinite(submission.created_at) and 0 <= submission.created_at <= MAX_TIME:
                return request
            created_at = clamp(submission.created_at, 0.0, MAX_TIME, default=0.0)
            return msgspec.structs.replace(
                request, submission=msgspec.structs.replace(submission, created_at=created_at)
            )
        case FinishJob(job=job):
            bounded = bounded_record(job)
            return request if bounded is job else msgspec.structs.replace(request, job=bounded)
        case StartJob(attempt=attempt, started_at=started_at):
            if math.isfinite(started_at) and 0 <= started_at <= MAX_TIME and 0 <= attempt:
                return request
            return msgspec.structs.replace(
                request,
                attempt=min(max(attempt, 0), MAX_ATTEMPTS),
                started_at=clamp(started_at, 0.0, MAX_TIME, default=0.0),
            )
        case RequeueJob(attempts=attempts) if attempts is not None:
            if 0 <= attempts <= MAX_ATTEMPTS:
                return request
            return msgspec.structs.replace(request, attempts=min(max(attempts, 0), MAX_ATTEMPTS))
    return request
