"""The queue, its admission counts and the shared source cache."""

from __future__ import annotations

import msgspec
import pytest

from faas_trio.core.errors import TooManyRequests
from faas_trio.jqmanager.queue import JobQueue, SourceCache

from .jq_fakes import make_function, make_job


def queue(max_queue: int = 10, user_max_active: int = 10) -> JobQueue:
    return JobQueue(max_queue=max_queue, user_max_active=user_max_active)


def test_fifo_with_front_insertion_and_removal() -> None:
    q = queue()
    fn = make_function()
    a, b, c = make_job(), make_job(), make_job()
    for job in (a, b, c):
        q.admit(job.user)
        q.push(job, fn, admitted=True)
    assert q.remove(b.id) is not None
    assert q.remove(b.id) is None
    first = q.pop()
    assert first is not None and first.job.id == a.id
    q.push_front(a, fn)
    assert [q.pop().job.id for _ in range(2)] == [a.id, c.id]  # type: ignore[union-attr]
    assert q.pop() is None
    assert len(q) == 0


def test_global_limit_counts_admissions_in_flight() -> None:
    q = queue(max_queue=2)
    q.admit("ann")
    q.admit("bob")
    with pytest.raises(TooManyRequests) as caught:
        q.admit("cid")
    assert caught.value.retry_after == 1.0
    q.withdraw("bob")
    q.admit("cid")


def test_user_limit_counts_queued_and_running_until_retired() -> None:
    q = queue(user_max_active=2)
    fn = make_function()
    jobs = [make_job(), make_job()]
    for job in jobs:
        q.admit("ann")
        q.push(job, fn, admitted=True)
    running = q.pop()
    assert running is not None
    with pytest.raises(TooManyRequests):
        q.admit("ann")
    q.admit("bob")  # other users are not held back
    q.retire(running.job, running.function)
    q.admit("ann")
    assert q.active("ann") == 2


def test_reloaded_jobs_count_without_admission() -> None:
    q = queue(user_max_active=1)
    fn = make_function()
    q.push(make_job(), fn, admitted=False)
    assert q.active("ann") == 1
    with pytest.raises(TooManyRequests):
        q.admit("ann")
    q.adopt(fn, "bob", admitted=False)
    assert q.active("bob") == 1


def test_jobs_share_one_copy_of_a_function_version() -> None:
    q = queue()
    first = make_function(version=1)
    same = msgspec.structs.replace(first)  # an equal copy, as decoded from another reply
    newer = make_function(version=2)
    a = q.push(make_job(), first, admitted=False)
    b = q.push(make_job(), same, admitted=False)
    c = q.push(make_job(), newer, admitted=False)
    assert b.function is a.function
    assert c.function is newer
    assert len(q.sources) == 2
    for entry in (a, b, c):
        q.retire(entry.job, entry.function)
    assert len(q.sources) == 0
    assert q.active("ann") == 0


def test_source_cache_ignores_unknown_release() -> None:
    cache = SourceCache()
    cache.release(make_function())
    fn = make_function()
    assert cache.acquire(fn) is fn
    cache.release(fn)
    assert len(cache) == 0
