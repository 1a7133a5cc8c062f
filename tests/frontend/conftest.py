"""Fixtures for the frontend tests: fake neighbours behind real RPC servers, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import pytest
import trio

from faas_trio.core.rpc import open_client, serve_rpc
from faas_trio.frontend import create_app
from faas_trio.frontend.peers import Peers

from .fakes import KEYS_CONFIG, TEST_CONFIG, AppClient, FakeNeighbours


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeNeighbours:
    fake = FakeNeighbours()
    fake.db_url = await nursery.start(
        partial(serve_rpc, "tcp://127.0.0.1:*", fake.handle_db, name="fake-db")
    )
    fake.jq_url = await nursery.start(
        partial(serve_rpc, "tcp://127.0.0.1:*", fake.handle_jq, name="fake-jq")
    )
    return fake


@pytest.fixture
async def client(fake: FakeNeighbours) -> AsyncIterator[AppClient]:
    async with open_client(fake.db_url) as db, open_client(fake.jq_url) as jq:
        app = create_app(TEST_CONFIG, Peers(db=db, jq=jq, rpc_timeout=5.0))
        yield app.test_client()


@pytest.fixture
async def keys_client(fake: FakeNeighbours) -> AsyncIterator[AppClient]:
    """A client of an app in ``keys`` mode with the admin key :data:`ADMIN_KEY`."""
    async with open_client(fake.db_url) as db, open_client(fake.jq_url) as jq:
        app = create_app(KEYS_CONFIG, Peers(db=db, jq=jq, rpc_timeout=5.0))
        yield app.test_client()
