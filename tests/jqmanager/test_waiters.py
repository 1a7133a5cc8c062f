"""Completions: many waiters per job, no missed finish, cleanup on timeout."""

from __future__ import annotations

import msgspec
import trio

from faas_trio.core.records import JobState
from faas_trio.jqmanager.waiters import Completions

from .jq_fakes import make_job


async def test_every_waiter_gets_the_final_record() -> None:
    completions = Completions()
    job = make_job()
    final = msgspec.structs.replace(job, state=JobState.SUCCEEDED, result="11")
    got: list[object] = []

    async def wait() -> None:
        got.append(await completions.wait(job.id))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert completions.waiting == 1
        completions.finish(final)
    assert got == [final, final, final]
    assert completions.waiting == 0
    # A late waiter is answered from the recent records.
    assert await completions.wait(job.id) == final
    assert completions.final(job.id) == final


async def test_a_waiter_that_gives_up_is_forgotten(autojump_clock: trio.abc.Clock) -> None:
    completions = Completions()
    job = make_job()
    with trio.move_on_after(5):
        await completions.wait(job.id)
    assert completions.waiting == 0
    assert completions.final(job.id) is None


def test_recent_records_are_bounded() -> None:
    completions = Completions(keep=2)
    jobs = [make_job(state=JobState.FAILED) for _ in range(3)]
    for job in jobs:
        completions.finish(job)
    assert completions.final(jobs[0].id) is None
    assert completions.final(jobs[2].id) == jobs[2]
