"""Warm children: reuse, isolation between functions and versions, TTL, the size limit."""

from __future__ import annotations

import os
import signal

import trio

from faas_trio.core.records import JobState
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .conftest import MakeDispatch, call_request, keeper_of, pid_exists, sandbox_pids

#: A function reports its uid, unique to its sandbox; tests map it to the sandbox's pid.
UID = "import os\ndef f(*args):\n    return os.getuid()\n"


async def pid_of_call(
    pool: WarmPool, dispatch_source: MakeDispatch, **kwargs: object
) -> tuple[int, bool]:
    outcome = await run_job(pool, dispatch_source(UID, **kwargs), log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED, outcome
    return keeper_of(int(outcome.result or "0")), outcome.cold_start


async def test_second_call_reuses_the_warm_child(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    first = await pid_of_call(pool, make_dispatch, version=1)
    second = await pid_of_call(pool, make_dispatch, version=1)
    assert first == (first[0], True)
    assert second == (first[0], False)


async def test_different_functions_and_users_never_share_a_child(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    pids = {
        await pid_of_call(pool, make_dispatch, name="f", user="ann", version=1),
        await pid_of_call(pool, make_dispatch, name="g", user="ann", version=1),
        await pid_of_call(pool, make_dispatch, name="f", user="bob", version=1),
    }
    assert len({pid for pid, _ in pids}) == 3
    assert all(cold for _, cold in pids)


async def test_new_version_gets_a_new_child_and_the_old_one_dies(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    old_pid, _ = await pid_of_call(pool, make_dispatch, version=1)
    new_pid, cold = await pid_of_call(pool, make_dispatch, version=2)
    assert new_pid != old_pid and cold
    assert not pid_exists(old_pid)
    assert pool.idle_pids == [new_pid]


async def test_concurrent_calls_of_one_function_get_separate_children(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = "import os, time\ndef f():\n    time.sleep(0.3)\n    return os.getuid()\n"
    dispatch = make_dispatch(source)
    results: list[str | None] = []

    async def call() -> None:
        results.append((await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)).result)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        nursery.start_soon(call)
    assert len(set(results)) == 2
    assert len(pool.idle_pids) == 2


async def test_idle_children_are_reaped_after_the_ttl(
    nursery: trio.Nursery, settings: SpawnSettings, make_dispatch: MakeDispatch
) -> None:
    pool = WarmPool(nursery, settings, ttl=0.2, max_warm=4, init_timeout=5.0, default_memory_mb=128)
    await nursery.start(pool.reap_idle)
    pid, _ = await pid_of_call(pool, make_dispatch)
    assert pool.idle_pids == [pid]
    with trio.fail_after(10):
        while pool.idle_pids or pid_exists(pid):  # noqa: ASYNC110 - the reaper has no event
            await trio.sleep(0.05)
    await pool.aclose()


async def test_least_recently_used_idle_child_is_evicted_at_the_limit(
    nursery: trio.Nursery, settings: SpawnSettings, make_dispatch: MakeDispatch
) -> None:
    pool = WarmPool(
        nursery, settings, ttl=60.0, max_warm=2, init_timeout=5.0, default_memory_mb=128
    )
    a, _ = await pid_of_call(pool, make_dispatch, name="a", version=1)
    b, _ = await pid_of_call(pool, make_dispatch, name="b", version=1)
    await pid_of_call(pool, make_dispatch, name="a", version=1)  # a is now the most recent
    c, _ = await pid_of_call(pool, make_dispatch, name="c", version=1)
    assert pool.idle_pids == [a, c]
    assert not pid_exists(b)
    await pool.aclose()
    assert not pid_exists(a) and not pid_exists(c)


async def test_cancelled_call_kills_the_child_before_cancel_propagates(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    dispatch = make_dispatch(
        "import os, time\ndef f():\n    print(os.getpid(), flush=True)\n    time.sleep(60)\n"
    )
    lease = await pool.acquire(dispatch.function)
    pid = lease.sandbox.pid
    with trio.move_on_after(0.3) as scope:
        await lease.sandbox.request(call_request(60))
    assert scope.cancelled_caught
    assert not pid_exists(pid)  # killed and reaped, not a zombie
    assert not lease.sandbox.alive
    await pool.release(lease, reusable=True)
    assert pool.size == 0


async def test_run_job_cancelled_leaves_no_process(
    pool: WarmPool, make_dispatch: MakeDispatch, settings: SpawnSettings
) -> None:
    dispatch = make_dispatch("import time\ndef f():\n    time.sleep(60)\n")
    before = sandbox_pids()
    with trio.move_on_after(0.5) as scope:
        await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert scope.cancelled_caught
    assert pool.size == 0
    assert sandbox_pids() <= before
    # The child's scratch directory went to the trash with it, and is soon removed there.
    assert [p.name for p in settings.scratch_root.iterdir()] == [".trash"]
    with trio.fail_after(10):
        while any((settings.scratch_root / ".trash").iterdir()):  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_idle_child_that_died_is_replaced(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    first, _ = await pid_of_call(pool, make_dispatch, version=1)
    os.kill(first, signal.SIGKILL)
    with trio.fail_after(5):
        while _is_running(first):  # noqa: ASYNC110 - no event for another process's death
            await trio.sleep(0.01)
    second, cold = await pid_of_call(pool, make_dispatch, version=1)
    assert second != first and cold
    assert pool.idle_pids == [second]


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
