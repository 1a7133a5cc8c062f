from __future__ import annotations

import httpx
import pytest

from load.api import SetupError, create_user, run_and_wait, submit, wait_for_job
from load.generator import RequestFailed

from .fake_platform import FakePlatform

JOB = "0123456789abcdef01234567"


def client_for(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler, base_url="http://127.0.0.1")


async def test_run_and_submit_against_the_fake() -> None:
    fake = FakePlatform()
    async with client_for(fake.transport()) as client:
        await create_user(client, "ann")
        await client.post("/u/ann/fn/add", content=b"def add(a, b): return a + b")
        record = await run_and_wait(client, "ann", "add", [2, 3], 10)
        assert record["value"] == 5
        job_id = await submit(client, "ann", "add", [1, 1])
        finished = await wait_for_job(client, job_id, poll_wait=1, time_limit=5)
        assert finished is not None and finished["value"] == 2
        fake.refuse_runs = True
        with pytest.raises(RequestFailed) as refused:
            await submit(client, "ann", "add", [1, 1])
        assert refused.value.kind == "HTTP 429"


async def test_a_run_that_did_not_finish_is_a_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"error": False, "res": {"id": JOB, "state": "running"}})

    async with client_for(httpx.MockTransport(handler)) as client:
        with pytest.raises(RequestFailed) as late:
            await run_and_wait(client, "ann", "add", [1], 10)
    assert late.value.kind == "HTTP 202"


async def test_failed_setup_names_the_call() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": True, "res": "bad name"})

    async with client_for(httpx.MockTransport(handler)) as client:
        with pytest.raises(SetupError, match="POST /u/ann.*bad name"):
            await create_user(client, "ann")


async def test_waiting_falls_back_to_the_old_status_route() -> None:
    polls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        if request.url.path.endswith("/record"):
            return httpx.Response(404, text="<html>Not Found</html>")
        polls += 1
        return httpx.Response(200, json={"error": False, "res": 1 if polls >= 3 else 0})

    async with client_for(httpx.MockTransport(handler)) as client:
        record = await wait_for_job(client, JOB, poll_wait=1, time_limit=5)
    assert record is not None and record["state"] == "done" and polls == 3


async def test_waiting_gives_up_on_an_unknown_job() -> None:
    async with client_for(FakePlatform().transport()) as client:
        assert await wait_for_job(client, JOB, poll_wait=1, time_limit=5) is None
