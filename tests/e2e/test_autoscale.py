"""Autoscaling end to end: the scaler grows the pool of real worker processes under a burst
of slow jobs and shrinks it back to the minimum once idle (the local actuator, through the
supervisor)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from .conftest import StartPlatform, roles_running

pytestmark = pytest.mark.slow

WORKERS_MAX = 3
BURST = 24
SLOW = "import time\n\ndef slow(n):\n    time.sleep(1)\n    return n\n"

#: Bounds on each phase; the whole test takes about 15 s.
GROW_TIMEOUT = 10.0
FINISH_TIMEOUT = 20.0
SHRINK_TIMEOUT = 15.0


def workers(home: Path) -> int:
    return len(roles_running(home).get("worker", []))


async def until_workers(home: Path, count: int) -> float:
    """Wait until exactly ``count`` worker processes run; return how long that took.

    Cancellation: stops polling.
    """
    start = trio.current_time()
    while workers(home) != count:  # noqa: ASYNC110 (the process table has no event to wait on)
        await trio.sleep(0.05)
    return trio.current_time() - start


async def desired_workers(http: httpx.AsyncClient) -> float | None:
    """``faas_scaler_desired_workers`` from ``/metrics``, or None when it is not exported."""
    text = (await http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "faas_scaler_desired_workers":
                return sample.value
    return None


async def until_desired(http: httpx.AsyncClient, count: int) -> None:
    """Scrape ``/metrics`` until the scaler's exported decision is ``count``.

    Cancellation: stops scraping.
    """
    while await desired_workers(http) != count:  # noqa: ASYNC110 (a scrape is a poll)
        await trio.sleep(0.1)


async def final_state(http: httpx.AsyncClient, job_id: str) -> str:
    """The job's state once final (a held ``?wait`` request, bounded by the caller).

    Cancellation: drops the request.
    """
    while True:
        reply = (await http.get(f"/j/{job_id}/record?wait={FINISH_TIMEOUT}")).json()
        assert reply["error"] is False, reply
        state: str = reply["res"]["state"]
        if state not in ("queued", "running"):
            return state


async def test_a_burst_grows_the_worker_pool_and_idling_shrinks_it(
    platform: StartPlatform,
) -> None:
    up = await platform(
        FAAS_WORKERS="1",
        FAAS_WORKERS_MIN="1",
        FAAS_WORKERS_MAX=str(WORKERS_MAX),
        FAAS_WORKER_CONCURRENCY="2",
        FAAS_SCALER_INTERVAL="0.5",
        FAAS_SCALE_DOWN_DELAY="2",
        FAAS_USER_RATE="1000000",
    )
    assert workers(up.home) == 1
    async with httpx.AsyncClient(base_url=up.url, timeout=FINISH_TIMEOUT + 5) as http:
        assert (await http.post("/u/ann")).status_code == 200
        registered = await http.post("/u/ann/fn/slow", content=SLOW)
        assert registered.status_code == 200, registered.text

        burst_at = trio.current_time()
        job_ids = []
        for n in range(BURST):
            reply = await http.post("/u/ann/fn/slow/run", content=f"[{n}]")
            assert reply.status_code == 200, reply.text
            job_ids.append(reply.json()["res"])

        with trio.fail_after(GROW_TIMEOUT):
            await until_workers(up.home, WORKERS_MAX)
            grew = trio.current_time() - burst_at
            await until_desired(http, WORKERS_MAX)

        with trio.fail_after(FINISH_TIMEOUT):
            states = [await final_state(http, job_id) for job_id in job_ids]
        assert states == ["succeeded"] * BURST
        finished_at = trio.current_time()

        with trio.fail_after(SHRINK_TIMEOUT):
            shrank = await until_workers(up.home, 1)
            await until_desired(http, 1)

        results = [(await http.get(f"/j/{job_id}/res")).json()["res"] for job_id in job_ids]
    assert results == [str(n) for n in range(BURST)]
    print(
        f"\n{BURST} one-second jobs: 1 -> {WORKERS_MAX} workers in {grew:.1f} s,"
        f" all done {finished_at - burst_at:.1f} s after the burst,"
        f" back to 1 worker {shrank:.1f} s after that"
    )
