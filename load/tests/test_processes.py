from __future__ import annotations

import os
import subprocess
import sys

import httpx
import trio

from load.processes import descendants, find_jqmanager_pid, running_baseline, vm_rss_bytes


async def test_baseline_app_answers_and_is_stopped() -> None:
    async with running_baseline() as url:
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/")
        assert response.json() == {"error": False, "res": 1}
    async with httpx.AsyncClient(base_url=url) as client:
        try:
            await client.get("/")
            raise AssertionError("the baseline app is still serving")
        except httpx.ConnectError:
            pass


async def test_jqmanager_is_found_among_descendants_and_its_rss_read() -> None:
    # A stand-in whose command line holds "faas_trio jqmanager", as the real one's does.
    code = "import time; time.sleep(30)"
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", code, "faas_trio", "jqmanager"], stdin=subprocess.DEVNULL
    )
    try:
        assert process.pid in descendants(os.getpid())
        assert find_jqmanager_pid(os.getpid()) == process.pid
        # Only processes below the root count: the stand-in has no children of its own.
        assert find_jqmanager_pid(process.pid) is None
        rss = vm_rss_bytes(process.pid)
        assert rss is not None and rss > 1024 * 1024
    finally:
        process.kill()
        await process.wait()
    assert vm_rss_bytes(process.pid) is None
