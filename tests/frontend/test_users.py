"""The /u/<user> routes against a fake dbmanager."""

from __future__ import annotations

import msgspec

from faas_trio.core.messages import PutUser

from .fakes import AppClient, FakeNeighbours, envelope_of


async def test_put_user_registers_and_answers_1(client: AppClient, fake: FakeNeighbours) -> None:
    assert await envelope_of(await client.post("/u/ann")) == (200, False, 1)
    assert "ann" in fake.users
    assert fake.db_requests[-1] == PutUser("ann")


async def test_put_user_resets_functions(client: AppClient, fake: FakeNeighbours) -> None:
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    await client.post("/u/ann")
    assert await envelope_of(await client.get("/u/ann/fn")) == (200, False, {})


async def test_user_name_is_validated(client: AppClient, fake: FakeNeighbours) -> None:
    for bad in ["a" * 65, "ann%20b", "%C3%A9"]:
        status, error, res = await envelope_of(await client.post(f"/u/{bad}"))
        assert (status, error) == (400, True), bad
        assert "user name" in res
    assert fake.db_requests == []
    assert (await client.post("/u/" + "a" * 64)).status_code == 200
    assert (await client.post("/u/A.b_c-9")).status_code == 200


async def test_delete_user(client: AppClient, fake: FakeNeighbours) -> None:
    await client.post("/u/ann")
    assert await envelope_of(await client.delete("/u/ann")) == (200, False, 1)
    assert fake.users == {}


async def test_delete_unknown_user_is_404(client: AppClient) -> None:
    assert await envelope_of(await client.delete("/u/nobody")) == (404, True, "no user nobody")


async def test_time_is_execution_ms(client: AppClient, fake: FakeNeighbours) -> None:
    await client.post("/u/ann")
    fake.users["ann"] = msgspec.structs.replace(fake.users["ann"], execution_time_ms=12.5)
    assert await envelope_of(await client.get("/u/ann/time")) == (200, False, 12.5)


async def test_time_of_unknown_user_is_404(client: AppClient) -> None:
    status, error, _ = await envelope_of(await client.get("/u/nobody/time"))
    assert (status, error) == (404, True)
