"""Framework errors answer with the envelope too: unknown routes, wrong methods."""

from __future__ import annotations

import pytest

from .neighbours import AppClient, envelope_of


@pytest.mark.parametrize("path", ["/", "/nope", "/u", "/u/ann/fn/add/run/x", "/j/x/y/z"])
async def test_unknown_route_is_404_envelope(client: AppClient, path: str) -> None:
    status, error, res = await envelope_of(await client.get(path))
    assert (status, error) == (404, True)
    assert path in res


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/u/ann"),
        ("GET", "/u/ann"),
        ("POST", "/u/ann/time"),
        ("GET", "/u/ann/fn/add/run"),
        ("POST", "/j/0123456789abcdef01234567"),
        ("PATCH", "/u/ann/fn/add"),
        ("OPTIONS", "/u/ann"),
    ],
)
async def test_wrong_method_is_405_envelope(client: AppClient, method: str, path: str) -> None:
    status, error, res = await envelope_of(await client.open(path, method=method))
    assert (status, error) == (405, True)
    assert method in res
