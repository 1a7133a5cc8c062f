"""The whole platform stopped (SIGTERM to ``faas-trio up``) with jobs queued and running, then
started again on the same FAAS_HOME: the stop ends within 5 s and leaves no process, and every
accepted job then runs to success, those that were running at the stop included."""

from __future__ import annotations

import signal
import time

import httpx
import pytest
import trio
from e2e.conftest import STOP_TIMEOUT

from .conftest import Launch
from .stream import USER, JobStream, check_exactly_once, register

pytestmark = pytest.mark.slow

#: Longer than the drain timeout (4 s): these jobs are still running when the drain ends.
SLOW_SECONDS = 6
SLOW_SOURCE = f"def slow(x):\n    import time\n    time.sleep({SLOW_SECONDS})\n    return x * 2\n"
#: The documented bound on a whole-platform stop.
STOP_BOUND = 5.0
#: How often the test looks whether the supervisor has exited: its measurement of the stop
#: can be late by up to one interval plus a scheduling delay, so that much is allowed.
POLL_INTERVAL = 0.02
MEASUREMENT_SLACK = 0.1


async def test_a_full_stop_and_start_runs_every_queued_and_running_job(
    launch: Launch, store_env: dict[str, str]
) -> None:
    up = await launch(**store_env)
    await register(up.url)
    stream = JobStream(up.url)
    async with httpx.AsyncClient(base_url=up.url, timeout=10.0) as http:
        reply = await http.post(f"/u/{USER}/fn/slow", content=SLOW_SOURCE)
        assert reply.status_code == 200, reply.text
        slow: dict[str, int] = {}
        for i in range(3):
            body = (await http.post(f"/u/{USER}/fn/slow/run", content=f"[{i}]")).json()
            slow[body["res"]] = i
    # The slow jobs hold three slots; 60 quick ones fill the other five and the queue.
    await stream.run(rate=200.0, seconds=0.3)
    assert len(stream.accepted) == 60, (stream.refused, stream.unclear)
    await trio.sleep(0.5)  # some quick jobs ran, some run, the rest wait

    # The stop's time is the supervisor's, from SIGTERM to its exit; the checks that follow
    # (exit code, no process left: a scan of /proc) are the test's own time.
    stopping = time.monotonic()
    up.proc.send_signal(signal.SIGTERM)
    with trio.move_on_after(STOP_TIMEOUT):
        while up.proc.poll() is None:  # noqa: ASYNC110 (a Popen has no event to wait on)
            await trio.sleep(POLL_INTERVAL)
    took = time.monotonic() - stopping
    await up.stop()  # exited 0, no process left
    print(f"\nfull stop took {took:.2f} s")
    assert took <= STOP_BOUND + MEASUREMENT_SLACK

    again = await launch(up.home, **store_env)
    records = await check_exactly_once(again.url, stream, 60.0)
    slow_records = await check_slow(again.url, slow)
    rerun = [r for r in [*records.values(), *slow_records] if r["attempts"] > 1]
    print(
        f"after the restart: {len(records)} quick and {len(slow_records)} slow jobs succeeded, "
        f"{len(rerun)} of them after a second attempt"
    )


async def check_slow(url: str, slow: dict[str, int]) -> list[dict[str, object]]:
    """Wait for the slow jobs to succeed with their own results; their records."""
    records = []
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        with trio.fail_after(40.0):
            for job_id, i in slow.items():
                while True:
                    record = (await http.get(f"/j/{job_id}/record?wait=10")).json()["res"]
                    if record["state"] not in ("queued", "running"):
                        break
                assert (record["state"], record["result"]) == ("succeeded", str(2 * i)), record
                records.append(record)
    return records
