"""A group's items: how they are named and what each one's job record is.

Every process builds a group's items with these two functions (the frontend names them in
its answer, the jqmanager queues them, the store inserts them), so a submission carries the
argument texts only, and a retried one names the same jobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .records import Function, GroupRecord, JobRecord

__all__ = ["group_jobs", "item_job_id"]


def item_job_id(group_id: str, index: int) -> str:
    """The job id of item ``index`` of group ``group_id``: the group's creation second (the
    first 8 hex digits of its id, so ids still sort by time), then 8 bytes hashed from the
    group id and the index. A well-formed job id (24 hex digits)."""
    digest = hashlib.blake2b(f"{group_id}:{index}".encode(), digest_size=8).hexdigest()
    return group_id[:8] + digest


def group_jobs(
    group: GroupRecord, args: Sequence[str], function: Function, start: int = 0
) -> list[JobRecord]:
    """The queued jobs of the stored ``group``: item ``start + i`` calls ``function`` with
    ``args[i]`` (a JSON array text); ``start`` lets a caller build a big group in slices."""
    return [
        JobRecord(
            id=item_job_id(group.id, index),
            user=group.user,
            function=group.function,
            runtime=function.runtime,
            args=text,
            created_at=group.created_at,
            group_id=group.id,
            group_index=index,
        )
        for index, text in enumerate(args, start)
    ]
