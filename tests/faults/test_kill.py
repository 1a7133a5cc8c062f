"""SIGKILL one component of a running platform under a steady stream of jobs.

Each test streams ``double(i)`` at 20 calls a second for 6 s, kills one role process 2 s in,
and then checks the promises of the reliability guarantees: every accepted job (a 200 with a
job id) succeeds exactly once with its own result, every other submission got a clear refusal,
the supervisor brought the role back, and, at teardown, the platform still stops cleanly
leaving no process. The time from the kill until a fresh call runs end to end again is
printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import trio
from e2e.conftest import Platform

from .conftest import Launch
from .stream import (
    JobStream,
    assert_recovery,
    check_exactly_once,
    kill_role,
    recovery_time,
    register,
    roles_running,
)

pytestmark = pytest.mark.slow

RATE = 20.0
STREAM_SECONDS = 6.0
KILL_AFTER = 2.0
#: Bound on every accepted job reaching its final state once the stream ended.
SETTLE_TIMEOUT = 40.0
#: Bound on a fresh call running end to end after the kill.
RECOVERY_TIMEOUT = 30.0


async def _restarted(home: Path, role: str, killed: int) -> None:
    """Wait until ``role`` runs again under a pid other than ``killed``.

    Cancellation: stops waiting.
    """
    while True:
        pids = roles_running(home).get(role, [])
        if pids and killed not in pids:
            return
        await trio.sleep(0.05)


async def _kill_under_load(up: Platform, role: str) -> tuple[JobStream, float]:
    """Run the stream, SIGKILL ``role`` mid-stream; the stream and the recovery time."""
    await register(up.url)
    stream = JobStream(up.url)
    recovered: list[float] = []

    async def kill_then_probe() -> None:
        await trio.sleep(KILL_AFTER)
        killed = kill_role(up.home, role)
        at = time.monotonic()
        recovered.append(await recovery_time(up.url, at, RECOVERY_TIMEOUT))
        with trio.fail_after(RECOVERY_TIMEOUT):
            await _restarted(up.home, role, killed)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.run, RATE, STREAM_SECONDS)
        nursery.start_soon(kill_then_probe)
    return stream, recovered[0]


def _report(role: str, stream: JobStream, recovery: float, records: dict[str, dict]) -> None:
    retried = sum(1 for r in records.values() if r["attempts"] > 1)
    print(
        f"\nkill -9 {role}: recovered in {recovery:.2f} s; accepted {len(stream.accepted)}, "
        f"refused {len(stream.refused)} {sorted({why for _, why, _ in stream.refused})}, "
        f"rerun after a lost lease {retried}"
    )


@pytest.mark.parametrize("role", ["worker", "jqmanager", "dbmanager", "frontend"])
async def test_kill_9_loses_no_accepted_job(
    launch: Launch, role: str, store_env: dict[str, str]
) -> None:
    up = await launch(**store_env)
    stream, recovery = await _kill_under_load(up, role)
    records = await check_exactly_once(up.url, stream, SETTLE_TIMEOUT)
    _report(role, stream, recovery, records)
    assert_recovery(f"{role} killed", recovery)
    assert re.search(rf"{role}(\.\d+)? was killed by SIGKILL", up.output())
    # Most of what was sent while the role was up was accepted: the stream before the kill,
    # and whatever of it was left once a fresh call ran again (the recovery may outlast it).
    up_seconds = KILL_AFTER + max(0.0, STREAM_SECONDS - KILL_AFTER - recovery)
    assert len(stream.accepted) >= RATE * up_seconds / 2, (up_seconds, stream.refused)


async def test_idle_workers_take_work_soon_after_a_jqmanager_restart(launch: Launch) -> None:
    """Workers whose requests for work died with the jqmanager ask again once it is back,
    instead of waiting out those requests' own deadlines."""
    up = await launch()
    await register(up.url)
    await recovery_time(up.url, time.monotonic(), RECOVERY_TIMEOUT)  # warm (fails if it cannot)
    await trio.sleep(1.0)  # every slot is now holding a request for work
    killed = kill_role(up.home, "jqmanager")
    at = time.monotonic()
    with trio.fail_after(RECOVERY_TIMEOUT):
        await _restarted(up.home, "jqmanager", killed)
    slots = 8  # two workers of four slots each: every one of them must take work again
    async with trio.open_nursery() as nursery:
        for _ in range(slots):
            nursery.start_soon(recovery_time, up.url, at, RECOVERY_TIMEOUT)
    took = time.monotonic() - at
    print(f"\nkill -9 jqmanager while idle: {slots} parallel calls done {took:.2f} s after")
    # A request for work is held up to 10 s and times out 15 s after it was sent, so one that
    # died with the jqmanager has at least 5 s left to wait out.
    assert took < 5.0, "idle workers waited out their dead requests for work"
