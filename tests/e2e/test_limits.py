"""Per-user limits end to end through ``faas-trio up`` (one platform for both): the call rate
(``FAAS_USER_RATE``) and the bytes a user's jobs may hold (``FAAS_MAX_STORED_BYTES``)."""

from __future__ import annotations

import json

import httpx
import trio

from .conftest import StartPlatform


async def test_calls_past_the_users_rate_or_stored_bytes_are_refused_and_nothing_is_queued(
    platform: StartPlatform,
) -> None:
    up = await platform(FAAS_USER_RATE="3", FAAS_MAX_STORED_BYTES="3000")
    with trio.fail_after(20.0):
        async with httpx.AsyncClient(base_url=up.url, timeout=10.0) as http:
            for user in ("ann", "bob"):
                await http.post(f"/u/{user}")
                await http.post(f"/u/{user}/fn/add", content="def add(a, b):\n    return a + b\n")
            for _ in range(3):
                ran = await http.post("/u/ann/fn/add/run?wait=5", content="[1, 2]")
                assert ran.status_code == 200, ran.text
            refused = await http.post("/u/ann/fn/add/run", content="[1, 2]")
            assert refused.status_code == 429, refused.text
            message = "ann is over 3 submissions per minute (FAAS_USER_RATE)"
            assert refused.json() == {"error": True, "res": message}
            assert 1 <= int(refused.headers["Retry-After"]) <= 20
            jobs = await http.get("/u/ann/jobs")
            assert len(jobs.json()["res"]) == 3
            other = await http.post("/u/bob/fn/add/run?wait=5", content="[2, 2]")
            assert other.json()["res"]["result"] == "4"  # the limit is per user
            # Stored bytes: 1,504 bytes of arguments fit once under 3,000, not twice.
            await http.post("/u/cat")
            await http.post("/u/cat/fn/add", content="def add(a, b):\n    return len(a) + b\n")
            big = json.dumps(["x" * 1496, 1])
            stored = await http.post("/u/cat/fn/add/run?wait=5", content=big)
            assert stored.json()["res"]["result"] == "1497", stored.text
            refused = await http.post("/u/cat/fn/add/run?wait=5", content=big)
            assert refused.status_code == 413, refused.text
            assert "FAAS_MAX_STORED_BYTES of 3000" in refused.json()["res"]
            items = json.dumps([["x" * 20, 1]] * 100)  # 100 items of 26 bytes
            mapped = await http.post("/u/cat/fn/add/map", content=items)
            assert mapped.status_code == 413, mapped.text[:300]
            assert "FAAS_MAX_STORED_BYTES" in mapped.json()["res"]
            assert len((await http.get("/u/cat/jobs")).json()["res"]) == 1
