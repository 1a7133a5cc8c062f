"""The per-call result cap (``FAAS_RESULT_CAP``) end to end through ``faas-trio up``."""

from __future__ import annotations

import httpx
import trio

from .conftest import StartPlatform


async def test_a_result_over_the_cap_fails_the_call(platform: StartPlatform) -> None:
    up = await platform(FAAS_RESULT_CAP="4096")
    source = "def blob(n):\n    print('made', n)\n    return 'z' * n\n"
    with trio.fail_after(15.0):
        async with httpx.AsyncClient(base_url=up.url, timeout=10.0) as http:
            await http.post("/u/ann")
            put = await http.post("/u/ann/fn/blob", content=source)
            assert put.json() == {"error": False, "res": 1}, put.text

            small = await http.post("/u/ann/fn/blob/run?wait=10", content="[4000]")
            assert small.status_code == 200, small.text
            assert small.json()["res"]["state"] == "succeeded"
            assert small.json()["res"]["result"] == "z" * 4000

            # 5000 characters: under the 1 MiB default, over this platform's 4096 bytes.
            big = await http.post("/u/ann/fn/blob/run?wait=10", content="[5000]")
            assert big.status_code == 200, big.text
            record = big.json()["res"]
            message = "the result is 5002 bytes, over the FAAS_RESULT_CAP of 4096"
            assert record["state"] == "failed"
            assert (record["error"], record["result"]) == (f"ResultTooLarge: {message}", message)
            assert record["value"] is None
            assert "zzzz" not in big.text
            stored = await http.get(f"/j/{record['id']}/res")
            assert stored.json() == {"error": False, "res": message}
            logs = await http.get(f"/j/{record['id']}/logs")
            assert "made 5000" in logs.json()["res"]
