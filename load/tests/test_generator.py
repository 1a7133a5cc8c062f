from __future__ import annotations

import httpx
import pytest
import trio

from load.generator import RequestFailed, check_loopback, drive, open_client


async def test_drive_makes_exactly_total_requests_with_bounded_concurrency() -> None:
    in_flight = 0
    most = 0
    seen: list[int] = []

    async def request(client: httpx.AsyncClient, index: int) -> bool:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await trio.sleep(0.001)
        in_flight -= 1
        seen.append(index)
        return True

    async with open_client("http://127.0.0.1:1", 4) as client:
        sample = await drive(
            client, request, label="t", total=50, concurrency=4, time_limit=30, progress=False
        )
    assert sorted(seen) == list(range(50))
    assert most == 4
    assert len(sample.latencies_ms) == 50 and sample.errors == 0
    assert len(sample.finish_offsets) == 50
    assert not sample.timed_out


async def test_drive_counts_each_kind_of_failure() -> None:
    async def request(client: httpx.AsyncClient, index: int) -> bool:
        if index % 4 == 0:
            raise RequestFailed("HTTP 429")
        if index % 4 == 1:
            raise httpx.ConnectError("refused")
        if index % 4 == 2:
            return False
        return True

    async with open_client("http://127.0.0.1:1", 2) as client:
        sample = await drive(
            client, request, label="t", total=8, concurrency=2, time_limit=30, progress=False
        )
    assert sample.errors == 6
    assert dict(sample.error_kinds) == {
        "HTTP 429": 2,
        "ConnectError": 2,
        "unexpected answer": 2,
    }
    assert sample.summary().requests == 8


async def test_drive_stops_at_the_time_limit(autojump_clock: trio.abc.Clock) -> None:
    async def one_second(client: httpx.AsyncClient, index: int) -> bool:
        await trio.sleep(1)
        return True

    async with open_client("http://127.0.0.1:1", 2) as client:
        sample = await drive(
            client,
            one_second,
            label="t",
            total=1000,
            concurrency=2,
            time_limit=10.5,
            progress=False,
        )
    assert sample.timed_out
    assert len(sample.latencies_ms) == 20


def test_only_loopback_targets_are_accepted() -> None:
    assert check_loopback("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_loopback("http://localhost:1") == "http://localhost:1"
    assert check_loopback("http://[::1]:1") == "http://[::1]:1"
    for url in ("http://10.0.0.1:80", "http://example.com", "ftp://127.0.0.1"):
        with pytest.raises(ValueError):
            check_loopback(url)


async def test_the_api_key_is_sent_as_a_bearer_token() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200)

    transport = httpx.MockTransport(handler)
    async with open_client("http://127.0.0.1:1", 1, transport, api_key="ann.s3cret") as client:
        await client.get("/")
    async with open_client("http://127.0.0.1:1", 1, transport) as client:
        await client.get("/")
    assert seen == ["Bearer ann.s3cret", None]
