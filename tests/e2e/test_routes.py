"""Every route of the REST API and its error cases, end to end through ``faas-trio up``.

The suite runs once on the embedded SQLite store and once with ``DB_URL`` pointing at the
MongoDB-protocol test server, so both stores serve the same API.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pymongo
import pytest
import trio

from .conftest import Platform, StartPlatform

PYTHON_SLOW = "import time\n\ndef slow(seconds):\n    time.sleep(seconds)\n    return 'woke'\n"
PYTHON_FAILS = "def fails():\n    raise ValueError('no luck')\n"
PYTHON_PRINTS = "def hello(name):\n    print('hi', name)\n    return {'greeting': 'hi ' + name}\n"
NODE_ADD = "async function add(a,b){ return a+b; }"


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    mongo_url: str = request.getfixturevalue("mongo_url")
    return {"DB_URL": mongo_url}


async def _wait_final(http: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    reply = await http.get(f"/j/{job_id}/record?wait=10")
    assert reply.status_code == 200, reply.text
    record: dict[str, object] = reply.json()["res"]
    return record


async def test_every_route(platform: StartPlatform, store_env: dict[str, str]) -> None:
    up = await platform(**store_env)
    async with httpx.AsyncClient(base_url=up.url, timeout=20.0) as http:
        assert (await http.post("/u/ann")).json() == {"error": False, "res": 1}
        for name, source in [
            ("slow", PYTHON_SLOW),
            ("fails", PYTHON_FAILS),
            ("hello", PYTHON_PRINTS),
            ("add", NODE_ADD),
        ]:
            reply = await http.post(f"/u/ann/fn/{name}", content=source)
            assert reply.json() == {"error": False, "res": 1}, reply.text

        listed = (await http.get("/u/ann/fn")).json()["res"]
        assert listed == {
            "slow": PYTHON_SLOW,
            "fails": PYTHON_FAILS,
            "hello": PYTHON_PRINTS,
            "add": NODE_ADD,
        }
        one = (await http.get("/u/ann/fn/add")).json()["res"]
        assert one["f_name"] == "add" and one["src"] == NODE_ADD and one["runtime"] == "node"

        # a function's timeout is a registration setting
        reply = await http.post("/u/ann/fn/slow?timeout=1", content=PYTHON_SLOW)
        assert reply.json()["res"] == 1
        assert (await http.get("/u/ann/fn/slow")).json()["res"]["timeout"] == 1

        # success with a JSON value and captured output
        waited = await http.post("/u/ann/fn/hello/run?wait=10", content='["bob"]')
        record = waited.json()["res"]
        assert waited.status_code == 200 and record["state"] == "succeeded"
        assert record["value"] == {"greeting": "hi bob"}
        assert record["result"] == '{"greeting":"hi bob"}' or record["result"] == (
            '{"greeting": "hi bob"}'
        )
        logs = (await http.get(f"/j/{record['id']}/logs")).json()
        assert "hi bob" in logs["res"]

        # a function that raises: status 1, the result is the error's message
        job_id = (await http.post("/u/ann/fn/fails/run", content="[]")).json()["res"]
        failed = await _wait_final(http, job_id)
        assert failed["state"] == "failed"
        assert (await http.get(f"/j/{job_id}")).json()["res"] == 1
        assert (await http.get(f"/j/{job_id}/res")).json() == {"error": False, "res": "no luck"}

        # a function past its timeout is killed and recorded
        job_id = (await http.post("/u/ann/fn/slow/run", content="[30]")).json()["res"]
        with trio.fail_after(15):
            timed_out = await _wait_final(http, job_id)
        assert timed_out["state"] == "timeout"

        # cancel a running job: it is killed, removed, and its id is then unknown
        await http.post("/u/ann/fn/slow?timeout=60", content=PYTHON_SLOW)
        job_id = (await http.post("/u/ann/fn/slow/run", content="[30]")).json()["res"]
        with trio.fail_after(10):
            while (await http.get(f"/j/{job_id}/record")).json()["res"]["state"] != "running":  # noqa: ASYNC110 (an HTTP client polls)
                await trio.sleep(0.05)
        with trio.fail_after(5):
            assert (await http.delete(f"/j/{job_id}")).json() == {"error": False, "res": 1}
        gone = await http.get(f"/j/{job_id}")
        assert gone.status_code == 404 and gone.json()["error"] is True
        # the worker is free again: a new call runs at once
        quick = await http.post("/u/ann/fn/add/run?wait=10", content="[2,3]")
        assert quick.json()["res"]["result"] == "5"

        assert (await http.get("/u/ann/time")).json()["res"] > 0
        assert (await http.delete("/u/ann/fn/fails")).json() == {"error": False, "res": 1}
        assert (await http.get("/u/ann/fn/fails")).status_code == 404
        assert (await http.delete("/u/ann")).json() == {"error": False, "res": 1}
        assert (await http.get("/u/ann/time")).status_code == 404

        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200


ErrorCase = tuple[str, str, str | bytes | None, int, Callable[[str], bool]]

ERROR_CASES: list[ErrorCase] = [
    ("GET", "/u/nobody/time", None, 404, lambda m: "nobody" in m),
    ("GET", "/u/ann/fn/missing", None, 404, lambda m: "missing" in m),
    ("POST", "/u/nobody/fn/f/run", "[1]", 404, lambda m: "nobody" in m),
    ("POST", "/u/ann/fn/missing/run", "[1]", 404, lambda m: "missing" in m),
    ("POST", "/u/ann/fn/add/run", '{"a": 1}', 400, lambda m: "array" in m),
    ("POST", "/u/ann/fn/add/run", "[1, 2", 400, lambda m: "JSON" in m),
    ("POST", "/u/ann/fn/add/run", b'["\xff"]', 400, lambda m: "UTF-8" in m),
    ("POST", "/u/ann/fn/add/run?wait=abc", "[1,2]", 400, lambda m: "wait" in m),
    ("POST", "/u/ann/fn/add/run?wait=-1", "[1,2]", 400, lambda m: "wait" in m),
    ("GET", "/j/not-a-job-id", None, 400, lambda m: "job id" in m),
    ("GET", "/j/0123456789abcdef01234567", None, 404, lambda m: "0123456789abcdef01234567" in m),
    ("GET", "/j/0123456789abcdef01234567/res", None, 404, lambda m: True),
    ("DELETE", "/j/0123456789abcdef01234567", None, 404, lambda m: True),
    ("POST", "/u/ann/fn/empty", "", 400, lambda m: "empty" in m or "source" in m),
    ("GET", "/no/such/route", None, 404, lambda m: True),
    ("PUT", "/u/ann", None, 405, lambda m: True),
]


async def test_bad_input_gets_clear_errors(
    platform: StartPlatform, store_env: dict[str, str]
) -> None:
    up: Platform = await platform(**store_env)
    async with httpx.AsyncClient(base_url=up.url, timeout=20.0) as http:
        await http.post("/u/ann")
        await http.post("/u/ann/fn/add", content=NODE_ADD)
        for method, path, body, status, says in ERROR_CASES:
            reply = await http.request(method, path, content=body)
            assert reply.status_code == status, (method, path, reply.text)
            envelope = reply.json()
            assert envelope["error"] is True, (method, path, envelope)
            assert isinstance(envelope["res"], str) and says(envelope["res"]), (path, envelope)
        # nothing was lost or corrupted by the bad requests
        ok = await http.post("/u/ann/fn/add/run?wait=10", content="[4,7]")
        assert ok.json()["res"]["result"] == "11"


@pytest.mark.mongo
async def test_mongo_documents_are_readable_and_survive_a_restart(
    platform: StartPlatform, mongo_url: str
) -> None:
    up = await platform(DB_URL=mongo_url)
    async with httpx.AsyncClient(base_url=up.url, timeout=20.0) as http:
        await http.post("/u/ann")
        await http.post("/u/ann/fn/add", content=NODE_ADD)
        job_id = (await http.post("/u/ann/fn/add/run", content="[4,7]")).json()["res"]
        assert (await _wait_final(http, job_id))["result"] == "11"

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(mongo_url)
    try:
        database = client.get_default_database()
        user = await trio.to_thread.run_sync(lambda: database.users.find_one({"name": "ann"}))
        assert user is not None and "add" in user["functions"]
        job = await trio.to_thread.run_sync(
            lambda: database.jobs.find_one({"u_name": "ann", "f_name": "add"})
        )
        assert job is not None and str(job["_id"]) == job_id and job["status"] == 1
    finally:
        client.close()

    await up.stop()
    again = await platform(DB_URL=mongo_url)
    async with httpx.AsyncClient(base_url=again.url, timeout=20.0) as http:
        assert (await http.get(f"/j/{job_id}/res")).json() == {"error": False, "res": "11"}
        assert (await http.get("/u/ann/fn/add")).json()["res"]["src"] == NODE_ADD
        assert re.fullmatch(r"[0-9a-f]{24}", job_id)
