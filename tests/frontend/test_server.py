"""serve() over real HTTP, and the process entry point."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import httpx
import pytest
import trio

from faas_trio.frontend import serve
from load.ports import unused_endpoint

from .neighbours import TEST_CONFIG, Neighbours


async def test_serve_answers_http(
    nursery: trio.Nursery, neighbours: Neighbours, worker: None
) -> None:
    config = dataclasses.replace(
        TEST_CONFIG, port=0, db_url=neighbours.db_url, jq_url=neighbours.jq_url
    )
    port = await nursery.start(serve, config)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        response = await http.post("/u/ann")
        assert (response.status_code, response.json()) == (200, {"error": False, "res": 1})
        assert await neighbours.has_user("ann")
        source = "async function add(a,b){ return a+b; }"
        response = await http.post("/u/ann/fn/add", content=source)
        assert response.json() == {"error": False, "res": 1}
        response = await http.post("/u/ann/fn/add/run?wait=5", content="[4,7]")
        assert response.status_code == 200
        assert response.json()["res"]["result"] == "11"
        response = await http.get("/nope")
        assert (response.status_code, response.json()["error"]) == (404, True)
        response = await http.get("/readyz")
        assert response.json() == {"error": False, "res": "ok"}


async def test_cancelled_serve_stops_listening(neighbours: Neighbours) -> None:
    config = dataclasses.replace(
        TEST_CONFIG, port=0, db_url=neighbours.db_url, jq_url=neighbours.jq_url
    )
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, config)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.aclose()
        nursery.cancel_scope.cancel()
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)


_MAIN = [sys.executable, "-c", "from faas_trio.frontend import main; main()"]


async def test_main_exits_0_on_sigterm() -> None:
    env = {**os.environ, "PORT": "0", "DB_URL": unused_endpoint(), "JQ_URL": unused_endpoint()}
    process = await trio.lowlevel.open_process(_MAIN, env=env, stderr=subprocess.PIPE)
    assert process.stderr is not None
    try:
        with trio.fail_after(20):
            seen = b""
            while b"frontend on http://" not in seen:
                chunk = await process.stderr.receive_some()
                assert chunk, f"exited before serving: {seen.decode()}"
                seen += chunk
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    finally:
        process.kill()
        await process.wait()


async def test_main_refuses_unknown_auth() -> None:
    env = {**os.environ, "FAAS_AUTH": "passwords"}
    with trio.fail_after(20):
        result = await trio.run_process(_MAIN, env=env, capture_stderr=True, check=False)
    assert result.returncode == 2
    assert b"FAAS_AUTH='passwords' is not one of keys, open" in result.stderr


async def test_a_keep_alive_connection_survives_an_early_error(
    nursery: trio.Nursery, neighbours: Neighbours
) -> None:
    """A 400 answered before the body was read must not stall the next request."""
    config = dataclasses.replace(
        TEST_CONFIG, port=0, db_url=neighbours.db_url, jq_url=neighbours.jq_url
    )
    port = await nursery.start(serve, config)
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=5.0
    ) as http:
        for _ in range(3):
            early = await http.post("/u/ann/fn/add/run?wait=-1", content="[1,2]")
            assert early.status_code == 400
            after = await http.get("/j/not-a-job-id")
            assert after.status_code == 400
