"""Fixtures for the frontend tests: its real neighbours in process, and clients of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from .neighbours import KEYS_CONFIG, TEST_CONFIG, AppClient, Neighbours, app_client, open_neighbours


@pytest.fixture
async def neighbours() -> AsyncIterator[Neighbours]:
    async with open_neighbours() as running:
        yield running


@pytest.fixture
async def client(neighbours: Neighbours) -> AsyncIterator[AppClient]:
    async with app_client(neighbours, TEST_CONFIG) as opened:
        yield opened


@pytest.fixture
async def keys_client(neighbours: Neighbours) -> AsyncIterator[AppClient]:
    """A client of an app in ``keys`` mode with the admin key :data:`ADMIN_KEY`."""
    async with app_client(neighbours, KEYS_CONFIG) as opened:
        yield opened


@pytest.fixture
async def worker(neighbours: Neighbours) -> AsyncIterator[None]:
    """The test acting as a worker that runs every job (:meth:`Neighbours.run_jobs`)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(neighbours.run_jobs)
        yield
        nursery.cancel_scope.cancel()
