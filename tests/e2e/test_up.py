"""``faas-trio up`` as a process tree: one named process per role, restarts, clean exit."""

from __future__ import annotations

import os
import signal

import httpx
import trio

from .conftest import StartPlatform, roles_running

ROLES = ("dbmanager", "jqmanager", "frontend", "scaler", "worker")


async def test_each_role_runs_as_its_own_named_process(platform: StartPlatform) -> None:
    up = await platform(FAAS_WORKERS="2", FAAS_WORKERS_MIN="2")
    running = roles_running(up.home)
    assert sorted(running) == sorted(ROLES + ("up",))
    assert running["up"] == [up.proc.pid]
    assert len(running["worker"]) == 2
    assert (up.home / "faas.db").exists()


async def test_a_killed_worker_is_restarted_and_jobs_still_run(platform: StartPlatform) -> None:
    up = await platform()
    [worker] = roles_running(up.home)["worker"]
    os.kill(worker, signal.SIGKILL)
    with trio.fail_after(15):
        while roles_running(up.home).get("worker", [worker]) == [worker]:  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert "worker.1 was killed by SIGKILL" in up.output()
    async with httpx.AsyncClient(base_url=up.url, timeout=15.0) as http:
        await http.post("/u/ann")
        await http.post("/u/ann/fn/mul", content="def mul(a, b):\n    return a * b\n")
        reply = await http.post("/u/ann/fn/mul/run?wait=10", content="[6, 7]")
    assert reply.json()["res"]["result"] == "42", reply.text


async def test_ctrl_c_stops_everything_cleanly(platform: StartPlatform) -> None:
    up = await platform()
    up.proc.send_signal(signal.SIGINT)
    with trio.fail_after(6):
        while up.proc.poll() is None:  # noqa: ASYNC110 (a Popen has no event to wait on)
            await trio.sleep(0.05)
    assert up.proc.returncode == 0
    assert "SIGINT received, stopping" in up.output()
    # The fixture's teardown checks that no process is left behind.
