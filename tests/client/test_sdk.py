"""The Python SDK against a real platform (``faas-trio up``, real HTTP): both clients, both
auth modes, typed errors, and a retried submission that runs once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trio

from faas_trio.client import (
    AsyncClient,
    BadRequest,
    Client,
    Forbidden,
    JobFailed,
    JobTimeout,
    NotFound,
    RetryPolicy,
    Unauthorized,
    Unreachable,
    WaitTimeout,
)

from .conftest import StartPlatform

PY_ADD = "def add(a, b):\n    print('adding', a, b)\n    return a + b\n"
PY_BOOM = "def boom():\n    raise ValueError('no good')\n"
PY_SLOW = "import time\n\ndef slow(s):\n    time.sleep(s)\n    return s\n"
JS_MUL = "async function mul(a, b) { console.log('mul', a, b); return a * b; }\n"
#: Bound on each test's conversation with its platform (the start has its own bound).
CONVERSATION_TIMEOUT = 60.0


async def test_sync_client_deploys_calls_and_maps_errors(
    platform: StartPlatform, tmp_path: Path
) -> None:
    up = await platform()
    js_file = tmp_path / "mul.js"
    js_file.write_text(JS_MUL)
    with Client(up.url, user="ann") as client:
        assert client.create_user("ann") is None  # open mode: no key
        add = client.deploy("add", PY_ADD)
        mul = client.deploy("mul", js_file)  # a path: the file's text
        assert add(4, 7) == 11
        assert mul(6, 7) == 42
        assert add.info()["runtime"] == "python" and mul.info()["runtime"] == "node"
        assert set(client.functions()) == {"add", "mul"}

        job = add.submit("a", "b")
        assert job.result(timeout=20) == "ab"
        assert "adding a b" in job.logs()
        assert job.record()["state"] == "succeeded"
        assert job.id in [j["id"] for j in client.jobs(state="succeeded")]

        client.deploy("boom", PY_BOOM)
        with pytest.raises(JobFailed, match="no good") as failed:
            client.function("boom")()
        assert failed.value.record["state"] == "failed"

        client.deploy("slow", PY_SLOW, timeout=1)
        with pytest.raises(JobTimeout) as timed_out:
            client.function("slow")(5)
        assert timed_out.value.record["state"] == "timeout"

        client.deploy("slow", PY_SLOW, timeout=30)
        pending = client.function("slow").submit(20)
        with pytest.raises(WaitTimeout):
            pending.result(timeout=0.3)
        pending.cancel()
        with pytest.raises(NotFound):
            pending.record()  # cancelling removes the job

        with pytest.raises(NotFound):
            client.function("nope")(1)
        with pytest.raises(BadRequest, match="runtime"):
            client.deploy("bad", PY_ADD, runtime="cobol")
        add.delete()
        with pytest.raises(NotFound):
            add.info()


async def _async_scenario(url: str, user: str) -> list[object]:
    """Deploy, call, submit, wait, cancel with the AsyncClient: what each step gave.

    Cancellation: at any request; the platform keeps what was done.
    """
    async with AsyncClient(url, user=user) as client:
        await client.create_user(user)
        add = await client.deploy("add", PY_ADD)
        called = await add(2, 3)
        job = await add.submit(10, 20)
        record = await job.wait(timeout=20)
        logs = await job.logs()
        await client.deploy("slow", PY_SLOW, timeout=30)
        slow = await client.function("slow").submit(20)
        await slow.cancel()
        jobs = await client.jobs()
        return [called, record["value"], "adding 10 20" in logs, slow.id in str(jobs)]


async def test_async_client_works_under_trio_and_under_asyncio(platform: StartPlatform) -> None:
    up = await platform()
    with trio.fail_after(CONVERSATION_TIMEOUT):
        under_trio = await _async_scenario(up.url, "ann")
        under_asyncio = await trio.to_thread.run_sync(asyncio.run, _async_scenario(up.url, "bob"))
    assert under_trio == under_asyncio == [5, 30, True, False]


async def test_keys_mode_acts_as_the_keys_user(platform: StartPlatform) -> None:
    up = await platform(FAAS_AUTH="keys", FAAS_ADMIN_KEY="admin-key-0123456789abcdef")
    with Client(up.url) as anonymous:
        ann_key = anonymous.create_user("ann")
        bob_key = anonymous.create_user("bob")
    assert ann_key and ann_key.startswith("ann.") and bob_key
    with Client(up.url, ann_key) as ann, Client(up.url, bob_key) as bob:
        add = ann.deploy("add", PY_ADD)
        job = add.submit(1, 2)
        assert job.result(timeout=20) == 3
        with pytest.raises(Forbidden):
            Client(up.url, bob_key, user="ann").functions()
        with pytest.raises(NotFound):
            bob.job(job.id).record()  # another user's job does not exist for bob
        assert bob.functions() == {}
    with Client(up.url, "ann." + "A" * 43) as wrong, pytest.raises(Unauthorized):
        wrong.functions()


class _AnswerLostOnce(httpx.HTTPTransport):
    """Sends every request; loses the answer to the first submission (as a reset would)."""

    def __init__(self) -> None:
        super().__init__()
        self.submissions: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/run"):
            self.submissions.append(request.headers["Idempotency-Key"])
            if len(self.submissions) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


async def test_a_submission_whose_answer_was_lost_is_resent_and_runs_once(
    platform: StartPlatform,
) -> None:
    up = await platform()
    transport = _AnswerLostOnce()
    policy = RetryPolicy(attempts=3, backoff=0.05)
    with Client(up.url, user="ann", retry=policy, transport=transport) as client:
        client.create_user("ann")
        job = client.deploy("add", PY_ADD).submit(1, 2)
        assert job.result(timeout=20) == 3
        jobs = client.jobs()
    assert len(transport.submissions) == 2
    assert transport.submissions[0] == transport.submissions[1]  # the same Idempotency-Key
    assert [j["id"] for j in jobs] == [job.id]  # the platform queued it once


async def test_an_unreachable_platform_is_named_after_the_retries(
    free_ports: Callable[[int], list[int]],
) -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    with Client(url, user="ann", retry=RetryPolicy(attempts=2, backoff=0.01)) as client:
        with pytest.raises(Unreachable, match=f"cannot reach {url}"):
            client.functions()
