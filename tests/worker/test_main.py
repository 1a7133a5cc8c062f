"""The worker as a program: it starts without a jqmanager and exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import trio


async def test_sigterm_exits_cleanly(
    tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> None:
    env = {
        **os.environ,
        "JQ_URL": f"tcp://127.0.0.1:{free_ports(1)[0]}",
        "FAAS_HOME": str(tmp_path),
        "FAAS_LOG_LEVEL": "INFO",
    }
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
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    finally:
        process.kill()
        await process.wait()
