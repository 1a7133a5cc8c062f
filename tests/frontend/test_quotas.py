"""What one user may store through the API: functions by number and by total size."""

from __future__ import annotations

from .neighbours import Neighbours, app_client, envelope_of


def source(name: str, size: int = 0) -> str:
    return f"def {name}():\n    return {'1' * max(size, 1)}\n"


async def test_functions_per_user_are_capped(neighbours: Neighbours) -> None:
    async with app_client(neighbours, max_functions=2) as client:
        await client.post("/u/ann")
        for name in ("a", "b"):
            assert (await client.post(f"/u/ann/fn/{name}", data=source(name))).status_code == 200
        status, error, res = await envelope_of(await client.post("/u/ann/fn/c", data=source("c")))
        assert (status, error) == (429, True)
        assert "FAAS_MAX_FUNCTIONS" in res and "DELETE /u/ann/fn/<name>" in res
        # Replacing one is no new function; another user has room of their own.
        assert (await client.post("/u/ann/fn/a", data=source("a", 5))).status_code == 200
        await client.post("/u/bob")
        assert (await client.post("/u/bob/fn/c", data=source("c"))).status_code == 200
        await client.delete("/u/ann/fn/b")
        assert (await client.post("/u/ann/fn/c", data=source("c"))).status_code == 200


async def test_function_sources_per_user_are_capped_in_bytes(neighbours: Neighbours) -> None:
    async with app_client(neighbours, max_source_bytes=120) as client:
        await client.post("/u/ann")
        assert (await client.post("/u/ann/fn/a", data=source("a", 50))).status_code == 200
        status, error, res = await envelope_of(
            await client.post("/u/ann/fn/b", data=source("b", 50))
        )
        assert (status, error) == (413, True)
        assert "FAAS_MAX_SOURCE_BYTES of 120" in res
        # The same function made longer is measured without its old source.
        assert (await client.post("/u/ann/fn/a", data=source("a", 90))).status_code == 200
