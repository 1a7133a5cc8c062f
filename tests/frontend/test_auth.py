"""API keys (FAAS_AUTH=keys): registration, 401/403/404 on every route, admin, re-register."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import (
    CancelJob,
    DeleteFunction,
    DeleteJob,
    DeleteUser,
    GetUser,
    PutFunction,
    PutUser,
    Submit,
)
from faas_trio.frontend.auth import _KeyHashes, hash_key

from .neighbours import ADMIN_KEY, AppClient, Neighbours, bearer, envelope_of

SOURCE = "def add(a, b):\n    return a + b\n"


async def register(client: AppClient, user: str, headers: dict[str, str] | None = None) -> str:
    status, error, res = await envelope_of(await client.post(f"/u/{user}", headers=headers))
    assert (status, error) == (200, False), res
    assert res["user"] == user
    key = res["api_key"]
    assert isinstance(key, str)
    return key


@pytest.fixture
async def ann(keys_client: AppClient) -> dict[str, str]:
    """ann registered, with function ``add`` and one queued job; her key and job id."""
    key = await register(keys_client, "ann")
    status, _, _ = await envelope_of(
        await keys_client.post("/u/ann/fn/add", data=SOURCE, headers=bearer(key))
    )
    assert status == 200
    _, _, job_id = await envelope_of(
        await keys_client.post("/u/ann/fn/add/run", data="[1,2]", headers=bearer(key))
    )
    return {"key": key, "job": job_id}


@pytest.fixture
async def bob_key(keys_client: AppClient) -> str:
    return await register(keys_client, "bob")


def routes(job_id: str) -> list[tuple[str, str, str]]:
    """(method, path, body) of every route that touches ann's data, removals last."""
    return [
        ("GET", "/u/ann/time", ""),
        ("GET", "/u/ann/jobs", ""),
        ("GET", "/u/ann/fn", ""),
        ("GET", "/u/ann/fn/add", ""),
        ("POST", "/u/ann/fn/add", SOURCE),
        ("POST", "/u/ann/fn/add/run", "[1,2]"),
        ("POST", "/u/ann/fn/add/run?wait=1", "[1,2]"),
        ("GET", f"/j/{job_id}", ""),
        ("GET", f"/j/{job_id}?wait=1", ""),
        ("GET", f"/j/{job_id}/res", ""),
        ("GET", f"/j/{job_id}/res?wait=1", ""),
        ("GET", f"/j/{job_id}/record", ""),
        ("GET", f"/j/{job_id}/logs", ""),
        ("DELETE", f"/j/{job_id}", ""),
        ("DELETE", "/u/ann/fn/add", ""),
        ("DELETE", "/u/ann", ""),
    ]


async def call(
    client: AppClient, method: str, path: str, body: str, headers: dict[str, str] | None
) -> Any:
    return await client.open(path, method=method, data=body, headers=headers)


WRITES = (PutUser, DeleteUser, PutFunction, DeleteFunction, DeleteJob, Submit, CancelJob)


def writes(neighbours: Neighbours) -> list[object]:
    return [r for r in neighbours.db_requests + neighbours.jq_requests if isinstance(r, WRITES)]


async def test_register_answers_a_key_and_stores_only_its_hash(
    keys_client: AppClient, neighbours: Neighbours
) -> None:
    key = await register(keys_client, "ann")
    user, dot, secret = key.rpartition(".")
    assert (user, dot) == ("ann", ".") and len(secret) >= 43
    stored = (await neighbours.user("ann")).key_hash
    assert stored == hash_key(key) and key not in stored
    assert await register(keys_client, "carl") != key


async def test_own_key_works_on_every_route(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str], worker: None
) -> None:
    for method, path, body in routes(ann["job"]):
        response = await call(keys_client, method, path, body, bearer(ann["key"]))
        status, _, res = await envelope_of(response)
        assert status in (200, 202), (method, path, res)
    assert not await neighbours.has_user("ann")


@pytest.mark.parametrize("headers", [None, {"Authorization": "Basic YW5uOng="}, bearer("")])
async def test_no_key_is_401_everywhere(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str], headers: Any
) -> None:
    before = len(writes(neighbours))
    for method, path, body in [*routes(ann["job"]), ("GET", "/metrics", "")]:
        response = await call(keys_client, method, path, body, headers)
        status, error, res = await envelope_of(response)
        assert (status, error) == (401, True), (method, path)
        assert "API key" in res
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(writes(neighbours)) == before


@pytest.mark.parametrize(
    "key",
    [
        "nonsense",
        "ann.wrong-secret",
        "ann.",
        ".secret",
        "nobody.secret",
        ADMIN_KEY + "x",
        "bad name!.secret",
    ],
)
async def test_wrong_key_is_401_everywhere(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str], key: str
) -> None:
    before = len(writes(neighbours))
    for method, path, body in routes(ann["job"]):
        status, _, res = await envelope_of(await call(keys_client, method, path, body, bearer(key)))
        assert status == 401, (method, path, res)
        assert res == "wrong API key"
    assert len(writes(neighbours)) == before


async def test_other_users_key_is_403_on_user_routes_and_404_on_jobs(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str], bob_key: str
) -> None:
    before = len(writes(neighbours))
    unknown = new_job_id()
    for method, path, body in routes(ann["job"]):
        response = await call(keys_client, method, path, body, bearer(bob_key))
        status, error, res = await envelope_of(response)
        if path.startswith("/j/"):
            # The same answer as for a job that does not exist: existence is not revealed.
            same = await call(keys_client, method, path.replace(ann["job"], unknown), body,
                              bearer(bob_key))  # fmt: skip
            assert (status, error, res) == (404, True, f"job '{ann['job']}' not found")
            assert (await envelope_of(same))[0] == 404
        else:
            assert (status, error, res) == (403, True, "this key is not ann's"), (method, path)
        assert "def add" not in str(res) and "[1,2]" not in str(res)
    assert len(writes(neighbours)) == before
    assert (await neighbours.job(ann["job"])).state.value == "queued"


async def test_admin_key_may_do_anything(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str]
) -> None:
    admin = bearer(ADMIN_KEY)
    status, _, functions = await envelope_of(await keys_client.get("/u/ann/fn", headers=admin))
    assert (status, functions) == (200, {"add": SOURCE})
    status, _, record = await envelope_of(
        await keys_client.get(f"/j/{ann['job']}/record", headers=admin)
    )
    assert (status, record["user"]) == (200, "ann")
    assert (await keys_client.get("/metrics", headers=admin)).status_code == 200
    new_key = await register(keys_client, "ann", admin)  # the admin may reset a user
    assert new_key != ann["key"]
    assert await envelope_of(await keys_client.delete("/u/ann", headers=admin)) == (200, False, 1)
    assert not await neighbours.has_user("ann")


async def test_reregistering_needs_the_users_key(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str], bob_key: str
) -> None:
    status, _, _ = await envelope_of(await keys_client.post("/u/ann"))
    assert status == 401
    status, _, _ = await envelope_of(await keys_client.post("/u/ann", headers=bearer(bob_key)))
    assert status == 403
    assert (await neighbours.user("ann")).key_hash == hash_key(ann["key"])
    assert await neighbours.has_function("ann", "add")

    new_key = await register(keys_client, "ann", bearer(ann["key"]))
    assert not await neighbours.has_function("ann", "add")  # reset
    # This frontend forgot the old hash at once: the old key is dead, the new one works.
    status, _, _ = await envelope_of(await keys_client.get("/u/ann/fn", headers=bearer(ann["key"])))
    assert status == 401
    status, _, res = await envelope_of(await keys_client.get("/u/ann/fn", headers=bearer(new_key)))
    assert (status, res) == (200, {})


async def test_user_made_in_open_mode_can_be_reset_only_by_the_admin(
    keys_client: AppClient, neighbours: Neighbours
) -> None:
    await neighbours.store.apply([PutUser("old")])  # no key hash, as open mode stores it
    status, _, _ = await envelope_of(await keys_client.post("/u/old"))
    assert status == 401
    await register(keys_client, "old", bearer(ADMIN_KEY))


async def test_deleting_a_user_kills_its_key(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str]
) -> None:
    key = bearer(ann["key"])
    assert await envelope_of(await keys_client.delete("/u/ann", headers=key)) == (200, False, 1)
    status, _, _ = await envelope_of(await keys_client.get("/u/ann/time", headers=key))
    assert status == 401


async def test_key_hashes_are_cached(
    keys_client: AppClient, neighbours: Neighbours, ann: dict[str, str]
) -> None:
    neighbours.db_requests.clear()
    for _ in range(3):
        await keys_client.get("/u/ann/fn", headers=bearer(ann["key"]))
    assert GetUser("ann") not in neighbours.db_requests


async def test_probes_and_openapi_need_no_key(keys_client: AppClient) -> None:
    for path in ("/healthz", "/readyz"):
        assert await envelope_of(await keys_client.get(path)) == (200, False, "ok")
    response = await keys_client.get("/openapi.json")
    assert response.status_code == 200


async def test_users_key_cannot_read_metrics(keys_client: AppClient, ann: dict[str, str]) -> None:
    status, _, res = await envelope_of(
        await keys_client.get("/metrics", headers=bearer(ann["key"]))
    )
    assert (status, res) == (403, "this needs the admin key")


async def test_key_hash_cache_expires(autojump_clock: trio.testing.MockClock) -> None:
    cache = _KeyHashes(ttl=5.0)
    assert cache.get("ann") == (False, None)
    cache.put("ann", "h1")
    cache.put("nobody", None)
    assert cache.get("ann") == (True, "h1")
    assert cache.get("nobody") == (True, None)
    await trio.sleep(4.9)
    assert cache.get("ann") == (True, "h1")
    await trio.sleep(0.2)
    assert cache.get("ann") == (False, None)
    cache.put("ann", "h2")
    cache.forget("ann")
    assert cache.get("ann") == (False, None)


async def test_a_name_registered_by_someone_else_meanwhile_is_not_taken_over(
    keys_client: AppClient, neighbours: Neighbours
) -> None:
    """Two first registrations of one name race: the one whose write lands second must not
    replace the first one's key."""

    async def racing(request: object) -> None:
        if isinstance(request, PutUser) and request.create_only:
            await neighbours.store.apply([PutUser("ann", key_hash="the other registrant's")])

    neighbours.before_db = racing
    status, _, _ = await envelope_of(await keys_client.post("/u/ann"))
    assert status == 401
    assert (await neighbours.user("ann")).key_hash == "the other registrant's"
