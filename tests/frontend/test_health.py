"""/healthz and /readyz, and what a request gets when a neighbour is down."""

from __future__ import annotations

import dataclasses

import trio
import trio.testing

from faas_trio.core.rpc import open_client
from faas_trio.frontend import create_app
from faas_trio.frontend.peers import Peers
from load.ports import unused_endpoint

from .neighbours import TEST_CONFIG, AppClient, Neighbours, envelope_of


async def test_healthz(client: AppClient) -> None:
    assert await envelope_of(await client.get("/healthz")) == (200, False, "ok")


async def test_readyz_when_both_answer(client: AppClient) -> None:
    assert await envelope_of(await client.get("/readyz")) == (200, False, "ok")


async def test_readyz_names_the_peer_that_is_down(neighbours: Neighbours) -> None:
    config = dataclasses.replace(TEST_CONFIG, ready_timeout=0.2)
    async with open_client(neighbours.db_url) as db, open_client(unused_endpoint()) as jq:
        client = create_app(config, Peers(db=db, jq=jq, rpc_timeout=5.0)).test_client()
        assert await envelope_of(await client.get("/readyz")) == (
            503,
            True,
            "not ready: jqmanager not answering",
        )


async def test_neighbours_down_is_503_after_the_rpc_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_client(unused_endpoint()) as db, open_client(unused_endpoint()) as jq:
        client = create_app(TEST_CONFIG, Peers(db=db, jq=jq, rpc_timeout=5.0)).test_client()

        start = trio.current_time()
        status, error, res = await envelope_of(await client.get("/u/ann/time"))
        assert (status, error) == (503, True)
        assert "GetUser" in res
        assert 5.0 <= trio.current_time() - start < 6.0

        start = trio.current_time()
        status, error, _ = await envelope_of(await client.post("/u/ann/fn/add/run?wait=10"))
        assert (status, error) == (503, True)
        assert 15.0 <= trio.current_time() - start < 16.0

        start = trio.current_time()
        assert await envelope_of(await client.get("/readyz")) == (
            503,
            True,
            "not ready: dbmanager, jqmanager not answering",
        )
        assert trio.current_time() - start < TEST_CONFIG.ready_timeout + 0.5
