"""The ``launch`` fixture: ``faas-trio up`` as the user runs it, on a FAAS_HOME of our choice.

Like the e2e ``platform`` fixture (whose helpers it reuses), but ``await launch(home, **env)``
may start a platform on a FAAS_HOME an earlier, stopped platform used, which the full
stop/start test needs. Every platform gets the fault tests' settings (:data:`FAULT_ENV`)
unless overridden. At teardown every platform still running gets SIGTERM and must exit 0
within 6 s leaving no process behind.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio
from e2e.conftest import START_TIMEOUT, Platform, _spawn_up, _stop, _wait_ready, free_ports

#: Settings of every platform the fault tests start: two workers (so a kill leaves capacity),
#: no per-user call rate limit (the stream is far above the default 2/s), and the documented
#: drain timeout, so that a stop ends within 5 s.
FAULT_ENV = {
    "FAAS_WORKERS": "2",
    "FAAS_WORKERS_MIN": "2",
    "FAAS_USER_RATE": "1000000",
    "FAAS_DRAIN_TIMEOUT": "4",
}

Launch = Callable[..., Awaitable[Platform]]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launch]:
    """A factory: ``await launch(home=None, **env)`` starts ``faas-trio up`` on ``home`` (a
    fresh one under ``tmp_path`` if None) and returns once the frontend is ready."""
    started: list[Platform] = []

    async def start(home: Path | None = None, **env: str) -> Platform:
        index = len(started)
        home = home or tmp_path / f"home{index}"
        http_port, db_port, jq_port = free_ports(3)
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FAAS_") and k not in ("PORT", "DB_URL", "JQ_URL")
        }
        full_env.update(FAULT_ENV)
        full_env.update(
            FAAS_HOME=str(home),
            PORT=str(http_port),
            FAAS_DB_PORT=str(db_port),
            FAAS_JQ_PORT=str(jq_port),
            PYTHONUNBUFFERED="1",
        )
        full_env.update(env)
        log = home.parent / f"{home.name}.log"
        if log.exists():  # an earlier run on this home: keep its log beside
            log.rename(log.with_suffix(f".log.{index}"))
        up = Platform(
            f"http://127.0.0.1:{http_port}", home, _spawn_up(full_env, home, tmp_path), full_env
        )
        started.append(up)
        try:
            with trio.fail_after(START_TIMEOUT):
                await _wait_ready(up)
        except (trio.TooSlowError, RuntimeError) as exc:
            tail = "\n".join(up.output().splitlines()[-60:])
            raise RuntimeError(f"the platform did not come up ({exc!r}):\n{tail}") from exc
        return up

    try:
        yield start
    finally:
        with trio.CancelScope(shield=True):
            for up in started:
                if up.proc.poll() is None:
                    await _stop(up)
