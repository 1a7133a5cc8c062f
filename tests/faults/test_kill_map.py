"""SIGKILL one component while a map is in flight: every item reaches exactly one final state.

A map of ``double(i)`` items (0.2 s each, more than the workers run at once) is accepted, one
role process is killed a second later, and then every item must succeed with its own result,
once: the user's execution time is the sum of the items' durations, which holds only if each
final record was written once. The group's counts must agree.
"""

from __future__ import annotations

import math
import re

import httpx
import pytest
import trio

from .conftest import Launch
from .stream import FUNCTION, USER, final_records, kill_role, register

pytestmark = pytest.mark.slow

ITEMS = 60
KILL_AFTER = 1.0
#: Bound on every item reaching its final state after the kill.
SETTLE_TIMEOUT = 60.0


async def _group_done(http: httpx.AsyncClient, group: str) -> dict[str, object]:
    """The group once every item is final, asking through outages.

    Cancellation: stops asking.
    """
    while True:
        try:
            reply = await http.get(f"/g/{group}?wait=5")
        except httpx.TransportError:
            reply = None
        if reply is not None and reply.status_code == 200:
            status: dict[str, object] = reply.json()["res"]
            if status["done"]:
                return status
        await trio.sleep(0.2)


@pytest.mark.parametrize("role", ["worker", "jqmanager", "dbmanager", "frontend"])
async def test_kill_9_with_a_map_in_flight_finishes_every_item_once(
    launch: Launch, role: str
) -> None:
    up = await launch()
    await register(up.url)
    async with httpx.AsyncClient(base_url=up.url, timeout=10.0) as http:
        reply = await http.post(f"/u/{USER}/fn/{FUNCTION}/map", json=[[i] for i in range(ITEMS)])
        assert reply.status_code == 200, reply.text
        res = reply.json()["res"]
        group, jobs = res["id"], res["jobs"]
        await trio.sleep(KILL_AFTER)
        kill_role(up.home, role)
        with trio.fail_after(SETTLE_TIMEOUT):
            status = await _group_done(http, group)
        records = await final_records(up.url, jobs, SETTLE_TIMEOUT)
        wrong = [
            (index, r["state"], r["result"])
            for index, r in enumerate(records[job] for job in jobs)
            if r["state"] != "succeeded" or r["result"] != str(2 * index)
        ]
        assert not wrong, wrong[:5]
        counts = status["counts"]
        assert isinstance(counts, dict) and counts["succeeded"] == ITEMS
        spent = (await http.get(f"/u/{USER}/time")).json()["res"]
        durations = sum(r["duration_ms"] or 0.0 for r in records.values())
        assert math.isclose(spent, durations, rel_tol=1e-6, abs_tol=1e-3), (spent, durations)
        retried = sum(1 for r in records.values() if r["attempts"] > 1)
        print(f"\nkill -9 {role} with a {ITEMS}-item map in flight: items rerun {retried}")
    assert re.search(rf"{role}(\.\d+)? was killed by SIGKILL", up.output())
