"""Key mode (``FAAS_AUTH=keys``) end to end through ``faas-trio up``: who may do what."""

from __future__ import annotations

import httpx
import trio

from .conftest import StartPlatform

ADMIN_KEY = "admin-key-0123456789abcdef"
PYTHON_ADD = "def add(a, b):\n    print('adding', a, b)\n    return a + b\n"
#: Bound on each test's HTTP conversation (the platform's start has its own).
CONVERSATION_TIMEOUT = 15.0


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def register(http: httpx.AsyncClient, user: str, key: str | None = None) -> str:
    """Register (or, with ``key``, reset) ``user``; returns the API key it was given.

    Cancellation: stops waiting for the frontend.
    """
    reply = await http.post(f"/u/{user}", headers=bearer(key) if key else None)
    assert reply.status_code == 200, reply.text
    body = reply.json()["res"]
    assert body["user"] == user
    api_key: str = body["api_key"]
    assert api_key.startswith(f"{user}.") and len(api_key) > len(user) + 40
    return api_key


async def test_each_user_reaches_only_their_own_functions_and_jobs(
    platform: StartPlatform,
) -> None:
    up = await platform(FAAS_AUTH="keys", FAAS_ADMIN_KEY=ADMIN_KEY)
    with trio.fail_after(CONVERSATION_TIMEOUT):
        async with httpx.AsyncClient(base_url=up.url, timeout=10.0) as http:
            ann, bob = await register(http, "ann"), await register(http, "bob")
            assert ann != bob

            put = await http.post("/u/ann/fn/add", content=PYTHON_ADD, headers=bearer(ann))
            assert put.json() == {"error": False, "res": 1}, put.text
            run = await http.post("/u/ann/fn/add/run?wait=10", content="[4,7]", headers=bearer(ann))
            assert run.status_code == 200, run.text
            record = run.json()["res"]
            assert (record["state"], record["result"], record["user"]) == ("succeeded", "11", "ann")
            job = record["id"]

            # No key, or a wrong one: 401, on a user route and on a job route alike.
            wrong_keys: list[dict[str, str]] = [
                {},
                bearer(f"ann.{'A' * 43}"),
                bearer("not-a-key"),
                bearer(ADMIN_KEY[:-1]),
                {"Authorization": f"Token {ann}"},
            ]
            for headers in wrong_keys:
                for path in ("/u/ann/fn", f"/j/{job}/record"):
                    reply = await http.get(path, headers=headers)
                    assert reply.status_code == 401, (path, headers, reply.text)
                    assert reply.json()["error"] is True

            # Bob's good key on every one of ann's /u/ann routes: 403, and none of her data.
            bob_on_ann = [
                ("GET", "/u/ann/fn", None),
                ("GET", "/u/ann/fn/add", None),
                ("POST", "/u/ann/fn/add", "def add(a, b):\n    return 'bob was here'\n"),
                ("POST", "/u/ann/fn/evil", "def evil():\n    return 1\n"),
                ("POST", "/u/ann/fn/add/run", "[1,2]"),
                ("POST", "/u/ann/fn/add/run?wait=5", "[1,2]"),
                ("GET", "/u/ann/time", None),
                ("GET", "/u/ann/jobs", None),
                ("DELETE", "/u/ann/fn/add", None),
                ("DELETE", "/u/ann", None),
                ("POST", "/u/ann", None),  # re-registering ann would reset her and her key
            ]
            for method, path, body in bob_on_ann:
                reply = await http.request(method, path, content=body, headers=bearer(bob))
                assert reply.status_code == 403, (method, path, reply.text)
                assert reply.json()["error"] is True
                assert "a + b" not in reply.text and "11" not in reply.text

            # Bob on ann's job: 404, the same answer as for a job that does not exist.
            absent = "0" * 24
            for method, suffix in [
                ("GET", ""),
                ("GET", "/res"),
                ("GET", "/record"),
                ("GET", "/logs"),
                ("GET", "/res?wait=1"),
                ("DELETE", ""),
            ]:
                reply = await http.request(method, f"/j/{job}{suffix}", headers=bearer(bob))
                assert reply.status_code == 404, (method, suffix, reply.text)
                assert reply.json() == {"error": True, "res": f"job '{job}' not found"}
                control = await http.request(method, f"/j/{absent}{suffix}", headers=bearer(bob))
                assert control.status_code == 404, (method, suffix, control.text)
                assert control.json()["res"] == f"job '{absent}' not found"

            # Ann's things are untouched: her function, her only job, its result and logs.
            listed = await http.get("/u/ann/fn", headers=bearer(ann))
            assert listed.json()["res"] == {"add": PYTHON_ADD}
            jobs = (await http.get("/u/ann/jobs", headers=bearer(ann))).json()["res"]
            assert [j["id"] for j in jobs] == [job]
            mine = await http.get(f"/j/{job}/record", headers=bearer(ann))
            assert (mine.json()["res"]["state"], mine.json()["res"]["result"]) == (
                "succeeded",
                "11",
            )
            assert (await http.get(f"/j/{job}/res", headers=bearer(ann))).json()["res"] == "11"
            logs = await http.get(f"/j/{job}/logs", headers=bearer(ann))
            assert "adding 4 7" in logs.json()["res"]
            assert (await http.get("/u/bob/jobs", headers=bearer(bob))).json()["res"] == []

            # The admin key reads anyone's job.
            seen = await http.get(f"/j/{job}/record", headers=bearer(ADMIN_KEY))
            assert seen.status_code == 200, seen.text
            assert (seen.json()["res"]["user"], seen.json()["res"]["result"]) == ("ann", "11")

            # Re-registering ann needs her key; it replaces the key, and the old one dies.
            assert (await http.post("/u/ann")).status_code == 401
            assert (await http.post("/u/ann", headers=bearer(f"ann.{'B' * 43}"))).status_code == 401
            renewed = await register(http, "ann", key=ann)
            assert renewed != ann
            assert (await http.get("/u/ann/time", headers=bearer(ann))).status_code == 401
            assert (await http.get("/u/ann/time", headers=bearer(renewed))).status_code == 200
            # Bob's key is not affected by ann's reset.
            assert (await http.get("/u/bob/time", headers=bearer(bob))).status_code == 200
