"""The worker as a program: it starts without a jqmanager and exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio


def worker_env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "JQ_URL": f"tcp://127.0.0.1:{port}",
        "FAAS_HOME": str(tmp_path),
        "FAAS_LOG_LEVEL": "INFO",
        **settings,
    }


@asynccontextmanager
async def started_worker(env: dict[str, str]) -> AsyncIterator[tuple[trio.Process, bytes]]:
    """A worker process with ``env``, once it asks for work, and what it logged until then;
    killed at exit.

    Cancellation: the process is killed and reaped.
    """
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "faas_trio.worker"], env=env, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    output = b""
    try:
        with trio.fail_after(20):
            while b"asking" not in output:
                chunk = await process.stderr.receive_some(4096)
                assert chunk, output
                output += chunk
        yield process, output
    finally:
        process.kill()
        await process.wait()


async def test_sigterm_exits_cleanly(
    tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> None:
    async with started_worker(worker_env(tmp_path, free_ports(1)[0])) as (process, output):
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            assert await process.wait() == 0
    # What confinement is in force is said at start.
    assert b"sandbox confinement: " in output and b"seccomp on" in output, output


async def test_strict_refuses_to_start_when_it_cannot_confine(
    tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> None:
    # An interpreter that cannot run the probe: nothing is shown to work, so nothing is assumed.
    env = worker_env(tmp_path, free_ports(1)[0], FAAS_SANDBOX_PYTHON="/bin/false")
    with trio.fail_after(20):
        done = await trio.run_process(
            [sys.executable, "-m", "faas_trio.worker"], env=env, capture_stderr=True, check=False
        )
    assert done.returncode == 1
    assert b"FAAS_SANDBOX=strict" in done.stderr and b"missing" in done.stderr, done.stderr
    assert b"seccomp" in done.stderr and b"Landlock" in done.stderr


async def test_sandbox_off_is_said_at_start(
    tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> None:
    env = worker_env(tmp_path, free_ports(1)[0], FAAS_SANDBOX="off")
    async with started_worker(env) as (_, output):
        pass
    assert b"FAAS_SANDBOX=off: functions run UNCONFINED" in output, output
