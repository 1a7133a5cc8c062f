"""Maps end to end through ``faas-trio up``: submit, wait, pages, NDJSON stream, idempotency,
cancel and keys mode, on both stores and in both runtimes."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from .conftest import StartPlatform
from .test_keys import ADMIN_KEY, bearer, register

PYTHON_ADD = "def add(a, b):\n    return a + b\n"
NODE_ADD = "async function add(a, b) { return a + b; }"
PYTHON_NAP = "import time\ndef nap(s):\n    time.sleep(s)\n    return s\n"
CONVERSATION_TIMEOUT = 60.0


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "mongo":
        return {"DB_URL": str(request.getfixturevalue("mongo_url"))}
    return {}


async def ndjson(http: httpx.AsyncClient, path: str) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    async with http.stream("GET", path, headers={"Accept": "application/x-ndjson"}) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("application/x-ndjson")
        async for line in reply.aiter_lines():
            if line:
                lines.append(json.loads(line))
    return lines


@pytest.mark.parametrize("source", [PYTHON_ADD, NODE_ADD], ids=["python", "node"])
async def test_a_map_runs_every_item_once_and_answers_in_input_order(
    platform: StartPlatform, store_env: dict[str, str], source: str
) -> None:
    up = await platform(FAAS_MAP_MAX_ITEMS="50", FAAS_MAP_MAX_BODY="4000", **store_env)
    with trio.fail_after(CONVERSATION_TIMEOUT):
        async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
            await http.post("/u/ann")
            assert (await http.post("/u/ann/fn/add", content=source)).json()["res"] == 1
            items = [[i, 10 * i] for i in range(40)]
            done = await http.post("/u/ann/fn/add/map?wait=30", json=items)
            assert done.status_code == 200, done.text
            res = done.json()["res"]
            assert res["total"] == 40 and len(res["jobs"]) == 40
            assert [r["index"] for r in res["results"]] == list(range(40))
            assert [r["value"] for r in res["results"]] == [11 * i for i in range(40)]
            assert {r["state"] for r in res["results"]} == {"succeeded"}
            group = res["id"]

            # Each item is an ordinary job.
            item = (await http.get(f"/j/{res['jobs'][7]}/record")).json()["res"]
            assert (item["state"], item["value"], item["group_index"]) == ("succeeded", 77, 7)

            status = (await http.get(f"/g/{group}")).json()["res"]
            assert (status["total"], status["done"]) == (40, True)
            assert status["counts"]["succeeded"] == 40
            assert status["elapsed_ms"] >= 0 and status["finished_at"] >= status["started_at"]

            page = (await http.get(f"/g/{group}/results?offset=35&limit=10")).json()["res"]
            assert [r["index"] for r in page] == [35, 36, 37, 38, 39]
            streamed = await ndjson(http, f"/g/{group}/results")
            assert sorted(int(str(line["index"])) for line in streamed) == list(range(40))

            # A second map, streamed while it runs: every item once, each line its index.
            second = (await http.post("/u/ann/fn/add/map", json=items[:20])).json()["res"]
            streamed = await ndjson(http, f"/g/{second['id']}/results?wait=30")
            assert sorted(int(str(line["index"])) for line in streamed) == list(range(20))
            assert all(line["value"] == 11 * int(str(line["index"])) for line in streamed)

            # Idempotency: the same key answers the first group, nothing runs again.
            key = {"Idempotency-Key": "batch-1"}
            first = (await http.post("/u/ann/fn/add/map", json=items[:3], headers=key)).json()
            again = (await http.post("/u/ann/fn/add/map", json=items[:3], headers=key)).json()
            assert first["res"]["id"] == again["res"]["id"]
            assert first["res"]["jobs"] == again["res"]["jobs"]
            listed = (await http.get("/u/ann/groups")).json()["res"]
            assert [g["id"] for g in listed][:3] == [first["res"]["id"], second["id"], group]

            # Limits and bad input: clear answers, nothing queued.
            too_many = await http.post("/u/ann/fn/add/map", json=[[1, 2]] * 51)
            assert too_many.status_code == 413 and "FAAS_MAP_MAX_ITEMS" in too_many.text
            too_big = await http.post("/u/ann/fn/add/map", json=[["x" * 100, 1]] * 45)
            assert too_big.status_code == 413 and "FAAS_MAP_MAX_BODY" in too_big.text
            for body in (b"[1, 2]", b"{}", b"[]", b"nope"):
                bad = await http.post("/u/ann/fn/add/map", content=body)
                assert bad.status_code == 400 and bad.json()["error"] is True, bad.text
            missing = await http.post("/u/ann/fn/nope/map", json=[[1, 2]])
            assert missing.status_code == 404
            assert (await http.get(f"/g/{'0' * 24}")).status_code == 404
            assert (await http.get("/g/nope")).status_code == 400


async def test_cancelling_a_map_cancels_every_item_not_final(
    platform: StartPlatform, store_env: dict[str, str]
) -> None:
    up = await platform(FAAS_WORKERS="1", **store_env)
    with trio.fail_after(CONVERSATION_TIMEOUT):
        async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
            await http.post("/u/ann")
            await http.post("/u/ann/fn/nap", content=PYTHON_NAP)
            res = (await http.post("/u/ann/fn/nap/map", json=[[30]] * 6)).json()["res"]
            group = res["id"]
            # Wait until one item runs, so that the cancel kills a running child too.
            first = (await http.get(f"/j/{res['jobs'][0]}/record")).json()["res"]
            for _ in range(100):
                if (await http.get(f"/g/{group}")).json()["res"]["counts"]["running"]:
                    break
                await trio.sleep(0.1)
            assert first["state"] in ("queued", "running")
            cancelled = await http.delete(f"/g/{group}")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["res"] == 6
            status = (await http.get(f"/g/{group}?wait=10")).json()["res"]
            assert status["done"] is True and status["counts"]["cancelled"] == 6
            record = (await http.get(f"/j/{res['jobs'][0]}/record")).json()["res"]
            assert record["state"] == "cancelled"
            assert (await http.delete(f"/g/{group}")).json()["res"] == 0  # nothing left


async def test_a_group_belongs_to_its_user_in_keys_mode(platform: StartPlatform) -> None:
    up = await platform(FAAS_AUTH="keys", FAAS_ADMIN_KEY=ADMIN_KEY)
    with trio.fail_after(CONVERSATION_TIMEOUT):
        async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
            ann, bob = await register(http, "ann"), await register(http, "bob")
            await http.post("/u/ann/fn/add", content=PYTHON_ADD, headers=bearer(ann))
            refused = await http.post("/u/ann/fn/add/map", json=[[1, 2]], headers=bearer(bob))
            assert refused.status_code == 403
            assert (await http.post("/u/ann/fn/add/map", json=[[1, 2]])).status_code == 401
            done = await http.post("/u/ann/fn/add/map?wait=20", json=[[1, 2]], headers=bearer(ann))
            assert done.status_code == 200, done.text
            group = done.json()["res"]["id"]
            for path in (f"/g/{group}", f"/g/{group}/results"):
                assert (await http.get(path, headers=bearer(bob))).status_code == 404
                assert (await http.get(path, headers=bearer(ann))).status_code == 200
                assert (await http.get(path, headers=bearer(ADMIN_KEY))).status_code == 200
            assert (await http.delete(f"/g/{group}", headers=bearer(bob))).status_code == 404
            assert (await http.get("/u/ann/groups", headers=bearer(bob))).status_code == 403
            mine = (await http.get("/u/ann/groups", headers=bearer(ann))).json()["res"]
            assert [g["id"] for g in mine] == [group]
