"""``faas-trio up`` itself killed outright (SIGKILL: nothing of ours runs) under a stream of
jobs: every child dies with it at once (its parent-death signal), nothing is left, and the
next ``faas-trio up`` on the same FAAS_HOME runs every accepted job to success."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from chaos.faults import ORPHAN_TIMEOUT, Up
from chaos.soak import platform_env
from e2e.conftest import roles_running

from .stream import JobStream, check_exactly_once, register

pytestmark = pytest.mark.slow


async def test_a_killed_supervisor_takes_its_children_and_the_next_one_recovers(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env, url = platform_env(home, 600_000 + (os.getpid() % 1000) * 100)
    up = Up(home, env, url)
    up.start()
    try:
        await up.ready()
        await register(url)
        stream = JobStream(url)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.run, 20.0, 4.0)
            await trio.sleep(2.0)
            roles = set(roles_running(home))
            assert roles == {"up", "dbmanager", "jqmanager", "frontend", "scaler", "worker"}
            gone = await up.kill()
        assert gone is not None, f"children outlived the supervisor by {ORPHAN_TIMEOUT} s"
        print(f"\nkill -9 faas-trio up: every child gone {gone:.2f} s later")
        assert len(stream.accepted) >= 20
        up.start()
        await up.ready()
        await check_exactly_once(url, stream, 60.0)
    finally:
        with trio.CancelScope(shield=True):
            code = await up.stop()
    assert code == 0
