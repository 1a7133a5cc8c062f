"""The per-user call rate: token buckets, and 429 with Retry-After on the run route."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import trio

from faas_trio.core.errors import TooManyRequests
from faas_trio.core.messages import Submit
from faas_trio.core.rpc import open_client
from faas_trio.frontend import create_app
from faas_trio.frontend.limits import RateLimiter
from faas_trio.frontend.peers import Peers

from .fakes import TEST_CONFIG, AppClient, FakeNeighbours, envelope_of


async def test_bucket_allows_the_rate_then_refuses(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(per_minute=6)  # one token every 10 s
    for _ in range(6):
        limiter.take("ann")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("ann")
    assert refused.value.retry_after == pytest.approx(10.0)
    limiter.take("bob")  # buckets are per user
    await trio.sleep(5.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("ann")
    assert refused.value.retry_after == pytest.approx(5.0)
    await trio.sleep(5.0)
    limiter.take("ann")
    await trio.sleep(600.0)  # refills up to the burst, not beyond
    for _ in range(6):
        limiter.take("ann")
    with pytest.raises(TooManyRequests):
        limiter.take("ann")


@pytest.fixture
async def slow_rate_client(fake: FakeNeighbours) -> AsyncIterator[AppClient]:
    config = dataclasses.replace(TEST_CONFIG, user_rate=3.0)
    async with open_client(fake.db_url) as db, open_client(fake.jq_url) as jq:
        yield create_app(config, Peers(db=db, jq=jq, rpc_timeout=5.0)).test_client()


async def test_run_past_the_rate_is_429_with_retry_after(
    slow_rate_client: AppClient, fake: FakeNeighbours
) -> None:
    client = slow_rate_client
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    for _ in range(3):
        status, _, _ = await envelope_of(await client.post("/u/ann/fn/add/run", data="[1,2]"))
        assert status == 200
    response = await client.post("/u/ann/fn/add/run", data="[1,2]")
    status, error, res = await envelope_of(response)
    assert (status, error, res) == (429, True, "ann is over 3 calls per minute")
    assert 1 <= int(response.headers["Retry-After"]) <= 20
    assert sum(isinstance(r, Submit) for r in fake.jq_requests) == 3
    # Reading is not a call: only runs are limited.
    status, _, _ = await envelope_of(await client.get("/u/ann/fn"))
    assert status == 200


async def test_jqmanager_limit_passes_its_retry_after(
    client: AppClient, fake: FakeNeighbours
) -> None:
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    fake.submit_error = TooManyRequests("ann has 100 jobs queued or running", retry_after=2.5)
    response = await client.post("/u/ann/fn/add/run", data="[1,2]")
    assert (await envelope_of(response))[0] == 429
    assert response.headers["Retry-After"] == "3"
