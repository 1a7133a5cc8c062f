"""Job ids: 24 hex digits laid out like a MongoDB ObjectId (time, random, counter).

The frontend makes the id before it submits, so a retried submission carries the same id and
the store can recognise it. The layout lets the MongoDB store use the id as an ``ObjectId``.
"""

from __future__ import annotations

import itertools
import os
import re
import time

__all__ = ["is_job_id", "new_job_id"]

_PROCESS_RANDOM = os.urandom(5)
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))
_JOB_ID = re.compile(r"[0-9a-f]{24}")


def new_job_id() -> str:
    """A fresh id, unique across processes and sortable by creation second."""
    seconds = int(time.time()) & 0xFFFFFFFF
    count = next(_COUNTER) & 0xFFFFFF
    raw = seconds.to_bytes(4, "big") + _PROCESS_RANDOM + count.to_bytes(3, "big")
    return raw.hex()


def is_job_id(text: str) -> bool:
    """Whether ``text`` is a well-formed job id (24 lowercase hex digits)."""
    return _JOB_ID.fullmatch(text) is not None
