"""The record a new job starts with.

The store builds it when it creates the job, and the jqmanager builds the same one when it
hands a sync call to a waiting worker while the job is still being stored (its early
dispatch), so the two can never describe a new job differently.
"""

from __future__ import annotations

from .records import Function, JobRecord, Submission

__all__ = ["created_job"]


def created_job(submitted: Submission, function: Function, now: float) -> JobRecord:
    """The job a ``CreateJob`` of ``submitted`` stores: the submission (its creation time,
    else ``now``), the runtime of the function, and the state queued."""
    return JobRecord(
        id=submitted.id,
        user=submitted.user,
        function=submitted.function,
        runtime=function.runtime,
        args=submitted.args,
        created_at=submitted.created_at or now,
        idempotency_key=submitted.idempotency_key,
        callback=submitted.callback,
    )
