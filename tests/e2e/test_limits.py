"""The per-user call rate (``FAAS_USER_RATE``) end to end through ``faas-trio up``."""

from __future__ import annotations

import httpx
import trio

from .conftest import StartPlatform


async def test_calls_past_the_users_rate_get_429_and_nothing_is_queued(
    platform: StartPlatform,
) -> None:
    up = await platform(FAAS_USER_RATE="3")
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
