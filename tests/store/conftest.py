"""The ``store`` fixture: an opened, empty store of each backend, closed after the test.

A backend joins the contract suite by adding its name to ``BACKENDS`` and a URL factory to
``_URL_FACTORIES``; a backend that needs a server should take its URL from the environment
(e.g. ``FAAS_TEST_MONGO_URL``) and skip its param when that is unset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from faas_trio.store import Store, open_store


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store/faas.db"


_URL_FACTORIES: dict[str, Callable[[Path], str]] = {
    "sqlite": _sqlite_url,
    "memory": lambda _: "memory:",
}

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("memory", id="memory"),
    pytest.param("mongo", id="mongo", marks=pytest.mark.mongo),
]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "mongo":
        # A fresh database on the session's test server (tests/conftest.py), which skips
        # this param when no server is available (and fails under CI).
        url = str(request.getfixturevalue("mongo_url"))
    else:
        url = _URL_FACTORIES[request.param](tmp_path)
    async with open_store(url) as opened:
        yield opened
