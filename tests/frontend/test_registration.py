"""Who may create users in keys mode, and how fast (FAAS_REGISTRATION, _RATE)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.frontend import FrontendConfig

from .neighbours import (
    ADMIN_KEY,
    KEYS_CONFIG,
    AppClient,
    Neighbours,
    app_client,
    bearer,
    envelope_of,
)

App = Callable[..., AsyncIterator[AppClient]]


async def test_admin_registration_lets_only_the_admin_create_users(neighbours: Neighbours) -> None:
    async with app_client(neighbours, KEYS_CONFIG, registration="admin") as client:
        status, error, res = await envelope_of(await client.post("/u/ann"))
        assert (status, error) == (403, True)
        assert "FAAS_REGISTRATION=admin" in res and not await neighbours.has_user("ann")
        created = await envelope_of(await client.post("/u/ann", headers=bearer(ADMIN_KEY)))
        assert created[0] == 200
        # Its owner may still reset it: that creates nobody.
        key = created[2]["api_key"]
        assert (await client.post("/u/ann", headers=bearer(key))).status_code == 200


async def test_new_users_per_address_are_rate_limited(neighbours: Neighbours) -> None:
    async with app_client(neighbours, KEYS_CONFIG, registration_rate=2.0) as client:
        first = await envelope_of(await client.post("/u/u1"))
        assert (await client.post("/u/u2")).status_code == 200
        refused = await client.post("/u/u3")
        status, error, res = await envelope_of(refused)
        assert (status, error) == (429, True)
        assert "FAAS_REGISTRATION_RATE" in res and "2 an hour" in res
        assert int(refused.headers["Retry-After"]) == 1800
        assert not await neighbours.has_user("u3")
        # The admin is not limited; resetting one's own user is no creation.
        assert (await client.post("/u/u3", headers=bearer(ADMIN_KEY))).status_code == 200
        key = first[2]["api_key"]
        assert (await client.post("/u/u1", headers=bearer(key))).status_code == 200


async def test_open_auth_mode_is_not_limited(neighbours: Neighbours) -> None:
    async with app_client(neighbours, KEYS_CONFIG, auth="open", registration_rate=1.0) as client:
        for name in ("a", "b", "c"):
            assert (await client.post(f"/u/{name}")).status_code == 200


@pytest.mark.parametrize(
    ("env", "variable"),
    [({"FAAS_REGISTRATION": "closed"}, "FAAS_REGISTRATION"),
     ({"FAAS_REGISTRATION_RATE": "0"}, "FAAS_REGISTRATION_RATE")],
)  # fmt: skip
def test_bad_registration_settings_are_refused(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        FrontendConfig.from_env(env)
