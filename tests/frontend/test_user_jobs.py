"""GET /u/<user>/jobs: a user's recent jobs, newest first."""

from __future__ import annotations

import pytest

from faas_trio.core.messages import ListJobs
from faas_trio.core.records import JobState

from .neighbours import AppClient, Neighbours, envelope_of


@pytest.fixture
async def job_ids(client: AppClient, neighbours: Neighbours) -> list[str]:
    """Three jobs of ann, oldest first: the first running, the second finished, the third
    queued (jobs are dispatched in order, so the first is taken out of the way)."""
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    ids = []
    for n in range(3):
        _, _, job_id = await envelope_of(await client.post("/u/ann/fn/add/run", data=f"[{n},1]"))
        ids.append(job_id)
        if n == 0:
            assert (await neighbours.take()).job.id == job_id
        elif n == 1:
            await neighbours.finish(job_id, 2)
    await client.post("/u/bob")
    await client.post("/u/bob/fn/add", data="def add(a, b):\n    return a + b\n")
    await client.post("/u/bob/fn/add/run", data="[0,0]")
    return ids


async def test_newest_first(client: AppClient, neighbours: Neighbours, job_ids: list[str]) -> None:
    status, _, jobs = await envelope_of(await client.get("/u/ann/jobs"))
    assert status == 200
    assert [j["id"] for j in jobs] == job_ids[::-1]
    assert jobs[1]["args"] == [1, 1] and jobs[1]["value"] == 2
    assert neighbours.db_requests[-1] == ListJobs("ann", None, 50)


async def test_state_and_limit(
    client: AppClient, neighbours: Neighbours, job_ids: list[str]
) -> None:
    _, _, jobs = await envelope_of(await client.get("/u/ann/jobs?state=succeeded"))
    assert [j["id"] for j in jobs] == [job_ids[1]]
    _, _, jobs = await envelope_of(await client.get("/u/ann/jobs?state=queued&limit=1"))
    assert [j["id"] for j in jobs] == [job_ids[2]]
    assert neighbours.db_requests[-1] == ListJobs("ann", JobState.QUEUED, 1)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=done", "state must be one of"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=1001", "limit must be between 1 and 1000"),
        ("limit=abc", "is not a whole number"),
        ("limit=" + "9" * 5000, "is not a whole number"),
    ],
)
async def test_bad_query_is_400(client: AppClient, query: str, message: str) -> None:
    status, error, res = await envelope_of(await client.get(f"/u/ann/jobs?{query}"))
    assert (status, error) == (400, True)
    assert message in res
