"""The MongoDB server itself killed (SIGKILL) under load, then started again on its port.

While it is down the dbmanager cannot store anything: submissions get a clear 503 (or a 429
once the user's share of the queue is full) within the frontend's RPC timeout, never a hang
nor a false success. Once the server is back the platform recovers by itself (no component
is restarted): every job accepted before, during or after the outage succeeds exactly once,
and the user's time is the sum of its jobs' durations. The server keeps its data in a SQLite
file (``tests/mongo_server.py --sqlite``), so what it acknowledged survives its death.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from conftest import MongoServer, with_database

from .conftest import Launch
from .stream import JobStream, check_exactly_once, recovery_time, register, roles_running

pytestmark = [pytest.mark.slow, pytest.mark.mongo]

#: Lower than the other fault tests' 20/s: the test server, keeping its data in SQLite, takes
#: tens of milliseconds per insert once it holds a few hundred jobs, so a faster stream would
#: measure its backlog after the outage, not the platform's recovery.
RATE = 5.0
STREAM_SECONDS = 12.0
KILL_AFTER = 2.0
DOWN_SECONDS = 6.0
#: The frontend's RPC timeout plus scheduling slack: the longest a refusal may take.
REFUSAL_BOUND = 5.0 + 1.5


async def test_mongodb_killed_and_restarted_under_load(
    launch: Launch, launch_mongo: Callable[..., MongoServer], tmp_path: Path
) -> None:
    data = tmp_path / "mongo.db"
    server = launch_mongo(sqlite=data)
    up = await launch(DB_URL=with_database(server.uri, "faas_outage"))
    await register(up.url)
    components = _components(up.home)
    stream = JobStream(up.url)
    recovered: list[float] = []

    async def kill_then_restart() -> None:
        await trio.sleep(KILL_AFTER)
        os.kill(server.proc.pid, signal.SIGKILL)
        await trio.to_thread.run_sync(server.proc.wait)
        await trio.sleep(DOWN_SECONDS)
        await trio.to_thread.run_sync(lambda: launch_mongo(port=server.port, sqlite=data))
        back = time.monotonic()
        recovered.append(await recovery_time(up.url, back, 40.0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.run, RATE, STREAM_SECONDS)
        nursery.start_soon(kill_then_restart)

    records = await check_exactly_once(up.url, stream, 90.0)
    reasons = sorted({why for _, why, _ in stream.refused})
    slowest = max((took for _, _, took in stream.refused), default=0.0)
    print(
        f"\nMongoDB down {DOWN_SECONDS} s: accepted {len(records)}, refused "
        f"{len(stream.refused)} {reasons} (slowest refusal {slowest:.2f} s), recovered "
        f"{recovered[0]:.2f} s after it was back"
    )
    assert "503" in reasons and set(reasons) <= {"429", "503"}, reasons
    assert slowest <= REFUSAL_BOUND
    assert _components(up.home) == components, "a component had to be restarted"


def _components(home: Path) -> dict[str, list[int]]:
    """The pids of the platform's dbmanager, jqmanager and frontend."""
    running = roles_running(home)
    return {role: running.get(role, []) for role in ("dbmanager", "jqmanager", "frontend")}
