"""The /u/<user> routes against the real dbmanager."""

from __future__ import annotations

from faas_trio.core.messages import PutUser

from .neighbours import AppClient, Neighbours, envelope_of


async def test_put_user_registers_and_answers_1(client: AppClient, neighbours: Neighbours) -> None:
    assert await envelope_of(await client.post("/u/ann")) == (200, False, 1)
    assert await neighbours.has_user("ann")
    assert neighbours.db_requests[-1] == PutUser("ann")


async def test_put_user_resets_functions(client: AppClient, neighbours: Neighbours) -> None:
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    await client.post("/u/ann")
    assert await envelope_of(await client.get("/u/ann/fn")) == (200, False, {})


async def test_user_name_is_validated(client: AppClient, neighbours: Neighbours) -> None:
    for bad in ["a" * 65, "ann%20b", "%C3%A9"]:
        status, error, res = await envelope_of(await client.post(f"/u/{bad}"))
        assert (status, error) == (400, True), bad
        assert "user name" in res
    assert neighbours.db_requests == []
    assert (await client.post("/u/" + "a" * 64)).status_code == 200
    assert (await client.post("/u/A.b_c-9")).status_code == 200


async def test_delete_user(client: AppClient, neighbours: Neighbours) -> None:
    await client.post("/u/ann")
    assert await envelope_of(await client.delete("/u/ann")) == (200, False, 1)
    assert not await neighbours.has_user("ann")


async def test_delete_unknown_user_is_404(client: AppClient) -> None:
    assert await envelope_of(await client.delete("/u/nobody")) == (
        404,
        True,
        "user 'nobody' not found",
    )


async def test_time_is_execution_ms(client: AppClient, neighbours: Neighbours) -> None:
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    _, _, job_id = await envelope_of(await client.post("/u/ann/fn/add/run", data="[1,2]"))
    await neighbours.finish(job_id, 3, duration_ms=12.5)
    assert await envelope_of(await client.get("/u/ann/time")) == (200, False, 12.5)


async def test_time_of_unknown_user_is_404(client: AppClient) -> None:
    status, error, _ = await envelope_of(await client.get("/u/nobody/time"))
    assert (status, error) == (404, True)
