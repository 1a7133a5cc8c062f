"""A crash of the dbmanager between a job's final write and the write adding its time to its
user: after the restart the user's time is still exactly the sum of its jobs' durations.

The dbmanager is killed there by the store's test hook (``FAAS_TEST_CRASH``, see
:mod:`faas_trio.store.crash`), at the first finish of a steady stream of jobs, on each store.
SQLite makes the two writes in one transaction, which the crash rolls back: the jqmanager
sends the finish again. On MongoDB the job's final write is already done: the restarted
dbmanager counts its time when it opens, once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Launch
from .stream import JobStream, check_exactly_once, register

pytestmark = pytest.mark.slow


async def test_a_crash_between_a_finish_and_its_time_loses_no_time(
    launch: Launch, store_env: dict[str, str], tmp_path: Path
) -> None:
    crashed = tmp_path / "crashed"
    up = await launch(FAAS_TEST_CRASH=f"finish-before-time:{crashed}", **store_env)
    await register(up.url)
    stream = JobStream(up.url)
    await stream.run(rate=10.0, seconds=4.0)
    records = await check_exactly_once(up.url, stream, 40.0)
    assert crashed.exists(), "the dbmanager never reached the crash point"
    assert re.search(r"dbmanager(\.\d+)? was killed by SIGKILL", up.output())
    print(f"\ncrash between a finish and its time: {len(records)} accepted jobs, time exact")
