"""Limits the jqmanager enforces reach the client as 429 with Retry-After."""

from __future__ import annotations

from .neighbours import TEST_CONFIG, app_client, envelope_of, open_neighbours


async def test_jqmanager_limit_passes_its_retry_after() -> None:
    async with open_neighbours(user_max_active=1) as neighbours:
        async with app_client(neighbours, TEST_CONFIG) as client:
            await client.post("/u/ann")
            await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
            assert (await client.post("/u/ann/fn/add/run", data="[1,2]")).status_code == 200
            response = await client.post("/u/ann/fn/add/run", data="[1,2]")
            status, error, res = await envelope_of(response)
            assert (status, error) == (429, True)
            assert "FAAS_USER_MAX_ACTIVE" in res
            assert response.headers["Retry-After"] == "1"
