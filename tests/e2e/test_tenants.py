"""Names in keys mode through ``faas-trio up``: a deleted user's jobs and logs go with it, so
whoever registers the name next starts empty and reads nothing of its former owner."""

from __future__ import annotations

import httpx

from .conftest import StartPlatform

ADMIN_KEY = "admin-key-for-the-tenant-tests"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_name_registered_again_starts_empty(platform: StartPlatform) -> None:
    up = await platform(FAAS_AUTH="keys", FAAS_ADMIN_KEY=ADMIN_KEY, FAAS_WORKERS="1")
    async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
        old_key = (await http.post("/u/ann")).json()["res"]["api_key"]
        old = bearer(old_key)
        source = "def f(secret):\n    print(secret)\n    return secret\n"
        assert (await http.post("/u/ann/fn/f", content=source, headers=old)).status_code == 200
        ran = await http.post("/u/ann/fn/f/run?wait=20", content='["s3cret"]', headers=old)
        record = ran.json()["res"]
        assert record["args"] == ["s3cret"], record
        job = record["id"]
        assert (await http.get(f"/j/{job}/record", headers=old)).status_code == 200
        assert (await http.delete("/u/ann", headers=old)).json() == {"error": False, "res": 1}

        new = bearer((await http.post("/u/ann")).json()["res"]["api_key"])
        assert (await http.get("/u/ann/jobs", headers=new)).json() == {"error": False, "res": []}
        for path in (f"/j/{job}", f"/j/{job}/res", f"/j/{job}/logs", f"/j/{job}/record"):
            answer = await http.get(path, headers=new)
            assert answer.status_code == 404, (path, answer.text)
            assert "s3cret" not in answer.text
        # Not even the admin finds them: they are gone, not hidden.
        assert (await http.get(f"/j/{job}", headers=bearer(ADMIN_KEY))).status_code == 404
