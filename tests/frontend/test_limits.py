"""Limits the jqmanager enforces reach the client as 429 with Retry-After."""

from __future__ import annotations

from faas_trio.core.errors import TooManyRequests

from .fakes import AppClient, FakeNeighbours, envelope_of


async def test_jqmanager_limit_passes_its_retry_after(
    client: AppClient, fake: FakeNeighbours
) -> None:
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    fake.submit_error = TooManyRequests("ann has 100 jobs queued or running", retry_after=2.5)
    response = await client.post("/u/ann/fn/add/run", data="[1,2]")
    assert (await envelope_of(response))[0] == 429
    assert response.headers["Retry-After"] == "3"
