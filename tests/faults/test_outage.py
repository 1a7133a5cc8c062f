"""A dbmanager that hangs (SIGSTOP: its connections stay up, nothing answers) under load.

Harder than a kill, which resets the connections at once: every caller must give up on its
own deadline. Submissions made meanwhile must get a 503 (or a
429 once the user's share of the queue is full) within the frontend's RPC timeout (never a
hang, never a false success), and once the dbmanager answers again the platform
recovers by itself: every accepted job succeeds once, and no job stored while it was unsure
stays queued forever.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import trio

from .conftest import Launch
from .stream import JobStream, check_exactly_once, recovery_time, register, roles_running

pytestmark = pytest.mark.slow

RATE = 20.0
STREAM_SECONDS = 12.0
FREEZE_AFTER = 2.0
#: Longer than the frontend's RPC timeout (5 s), so that some submissions must time out.
FREEZE_SECONDS = 6.5
#: The longest a refusal may take: the frontend's RPC timeout (5 s), plus slack for a busy
#: machine (the suite runs two tests at a time on two cores; this process alone runs hundreds of
#: requests), yet short of two timeouts in a row (10 s), which a retry in the frontend would take.
REFUSAL_BOUND = 5.0 + 3.0


async def test_a_hung_dbmanager_gives_bounded_503s_then_recovers(
    launch: Launch, store_env: dict[str, str]
) -> None:
    up = await launch(**store_env)
    await register(up.url)
    stream = JobStream(up.url)
    recovered: list[float] = []

    async def freeze_then_thaw() -> None:
        await trio.sleep(FREEZE_AFTER)
        [dbmanager] = roles_running(up.home)["dbmanager"]
        os.kill(dbmanager, signal.SIGSTOP)
        try:
            await trio.sleep(FREEZE_SECONDS)
        finally:
            os.kill(dbmanager, signal.SIGCONT)
        thawed = time.monotonic()
        recovered.append(await recovery_time(up.url, thawed, 30.0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.run, RATE, STREAM_SECONDS)
        nursery.start_soon(freeze_then_thaw)

    records = await check_exactly_once(up.url, stream, 60.0)
    reasons = sorted({why for _, why, _ in stream.refused})
    slowest = max((took for _, _, took in stream.refused), default=0.0)
    print(
        f"\ndbmanager hung {FREEZE_SECONDS} s: accepted {len(records)}, refused "
        f"{len(stream.refused)} {reasons} (slowest refusal {slowest:.2f} s), recovered "
        f"{recovered[0]:.2f} s after it answered again"
    )
    assert stream.refused, "no submission was refused while the dbmanager hung"
    # 503 for the calls that timed out; 429 once the user's share of the queue filled up with
    # calls still being stored.
    assert "503" in reasons and set(reasons) <= {"429", "503"}, reasons
    assert slowest <= REFUSAL_BOUND
