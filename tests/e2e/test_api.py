"""The old system's REST API, end to end through ``faas-trio up``."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
import trio

from .conftest import StartPlatform

NODE_ADD = "async function add(a,b){ return a+b; }"
PYTHON_ADD = "def add(a, b):\n    return a + b\n"


async def _poll_done(http: httpx.AsyncClient, job_id: str) -> None:
    """Poll ``GET /j/<id>`` until it answers 1, like an old client (bounded by the caller).

    Cancellation: stops polling.
    """
    while True:
        body = (await http.get(f"/j/{job_id}")).json()
        assert body["error"] is False, body
        if body["res"] == 1:
            return
        assert body["res"] == 0
        await trio.sleep(0.05)


async def _example_session(url: str, source: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=15.0) as http:
        assert (await http.post("/u/user1")).json() == {"error": False, "res": 1}
        registered = await http.post("/u/user1/fn/add", content=source)
        assert registered.json() == {"error": False, "res": 1}

        submitted = (await http.post("/u/user1/fn/add/run", content="[4,7]")).json()
        assert submitted["error"] is False, submitted
        job_id = submitted["res"]
        assert re.fullmatch(r"[0-9a-f]{24}", job_id)

        with trio.fail_after(15):
            await _poll_done(http, job_id)
        assert (await http.get(f"/j/{job_id}/res")).json() == {"error": False, "res": "11"}

        spent = (await http.get("/u/user1/time")).json()
        assert spent["error"] is False
        assert spent["res"] > 0

        waited = await http.post("/u/user1/fn/add/run?wait=5", content="[1,2]")
        assert waited.status_code == 200, waited.text
        record = waited.json()
        assert record["error"] is False
        assert record["res"]["state"] == "succeeded"
        assert record["res"]["result"] == "3"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
async def test_the_old_example_session_with_a_node_function(platform: StartPlatform) -> None:
    up = await platform()
    await _example_session(up.url, NODE_ADD)


async def test_the_old_example_session_with_a_python_function(platform: StartPlatform) -> None:
    up = await platform()
    await _example_session(up.url, PYTHON_ADD)


async def test_a_deleted_job_is_gone_for_every_read(platform: StartPlatform) -> None:
    """The jqmanager remembers recent final records; a deleted job must not be read from there."""
    up = await platform()
    async with httpx.AsyncClient(base_url=up.url, timeout=15.0) as http:
        await http.post("/u/ann")
        await http.post("/u/ann/fn/add", content=PYTHON_ADD)
        job_id = (await http.post("/u/ann/fn/add/run", content="[4,7]")).json()["res"]
        record = (await http.get(f"/j/{job_id}/record?wait=10")).json()["res"]
        assert record["state"] == "succeeded"
        assert (await http.delete(f"/j/{job_id}")).json() == {"error": False, "res": 1}
        for path in ["", "/res", "/record", "/record?wait=5", "/res?wait=5", "?wait=5"]:
            reply = await http.get(f"/j/{job_id}{path}")
            assert reply.status_code == 404, (path, reply.text)
