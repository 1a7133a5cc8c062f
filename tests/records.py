"""Record helpers shared by tests of several components."""

from __future__ import annotations

from faas_trio.core.records import JobRecord, Submission


def submission_of(job: JobRecord) -> Submission:
    """The submission ``job`` was made of (what a client supplied)."""
    return Submission(
        id=job.id,
        user=job.user,
        function=job.function,
        args=job.args,
        created_at=job.created_at,
        idempotency_key=job.idempotency_key,
        callback=job.callback,
    )
