"""The ``launch`` fixture: ``faas-trio up`` as the user runs it, on a FAAS_HOME of our choice.

The e2e ``platform`` fixture with the fault tests' settings (:data:`FAULT_ENV`); like it,
``launch(home)`` may reuse the FAAS_HOME of an earlier, stopped platform (the full stop/start
test does), and at teardown every platform must exit 0 within 6 s leaving no process behind.

``store_env``: a test that takes it runs once per store, SQLite (the default) and the
MongoDB-protocol test server (a database of its own), and passes it to ``launch``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from e2e.conftest import (
    Platform,
    StartPlatform,
    platform,  # noqa: F401 (the e2e fixture, made available here)
)

#: Settings of every platform the fault tests start: two workers (so a kill leaves capacity;
#: at most four),
#: no per-user call rate limit (the stream is far above the default 2/s), and the documented
#: drain timeout, so that a stop ends within 5 s.
FAULT_ENV = {
    "FAAS_WORKERS": "2",
    "FAAS_WORKERS_MIN": "2",
    # A queue that grows while a component is down would make the scaler start workers that
    # only compete for the machine's CPUs with the components being recovered.
    "FAAS_WORKERS_MAX": "4",
    "FAAS_USER_RATE": "1000000",
    "FAAS_DRAIN_TIMEOUT": "4",
}

Launch = Callable[..., Awaitable[Platform]]


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings that put a platform on each store in turn: none (SQLite in FAAS_HOME),
    then ``DB_URL`` naming a fresh database on the session's MongoDB-protocol server."""
    if request.param == "mongo":
        return {"DB_URL": str(request.getfixturevalue("mongo_url"))}
    return {}


@pytest.fixture
def launch(platform: StartPlatform) -> Launch:  # noqa: F811 (the fixture imported above)
    """A factory: ``await launch(home=None, **env)`` is the e2e ``platform`` factory with the
    fault tests' settings (:data:`FAULT_ENV`) unless overridden."""

    async def start(home: Path | None = None, **env: str) -> Platform:
        return await platform(home=home, **{**FAULT_ENV, **env})

    return start
