"""One runner child: framing, stderr draining, crashes, and kills of the whole group."""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio

from faas_trio.core.records import Runtime
from faas_trio.worker.sandbox.process import SandboxError
from faas_trio.worker.sandbox.spawn import SpawnSettings
from faas_trio.worker.sandbox.zygote_client import Zygote

from .conftest import (
    call_request,
    children_of,
    loaded_python,
    needs_node,
    pid_exists,
    processes_of_uid,
)


async def test_stderr_flood_does_not_stall_the_child(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote
) -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    for _ in range(64):\n"
        "        os.write(2, b'e' * 65536)\n"
        "    return 'done'\n"
    )
    sandbox = await loaded_python(nursery, settings, zygote, source)
    with trio.fail_after(10):
        reply = await sandbox.request(call_request(10))
    assert reply.text == "done"
    logs = sandbox.take_stderr()
    assert logs.startswith("eeee") and logs.endswith("[… output truncated]\n")
    await sandbox.kill()


async def test_kill_does_not_wait_for_a_grandchild_holding_stderr(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote
) -> None:
    source = (
        "import os, subprocess, sys, time\n"
        "def f():\n"
        "    subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "    os.write(2, f'{os.getuid()}\\n'.encode())\n"
        "    time.sleep(60)\n"
    )
    sandbox = await loaded_python(nursery, settings, zygote, source)

    async def call() -> None:
        with pytest.raises(SandboxError):
            await sandbox.request(call_request(60))

    nursery.start_soon(call)
    logs = ""
    with trio.fail_after(5):
        while not logs.endswith("\n"):  # noqa: ASYNC110 - stderr is drained by the sandbox
            await trio.sleep(0.01)
            logs += sandbox.take_stderr()
    uid = int(logs)
    assert len(processes_of_uid(uid)) == 2
    with trio.fail_after(5):
        await sandbox.kill()
    assert not pid_exists(sandbox.pid)
    # The grandchild left the process group and holds stderr open, but it is in the
    # sandbox's PID namespace: the kill returns only once the namespace is empty.
    assert processes_of_uid(uid) == []


def _running(pid: int) -> bool:
    return _state(pid) not in ("gone", "Z")


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


async def test_crash_during_a_call_is_reported_with_its_stderr(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote
) -> None:
    sandbox = await loaded_python(
        nursery,
        settings,
        zygote,
        "import os\ndef f():\n    os.write(2, b'dying')\n    os._exit(7)\n",
    )
    try:
        await sandbox.request(call_request(5))
    except SandboxError as exc:
        assert "exit code 7" in str(exc)
    else:
        raise AssertionError("expected SandboxError")
    assert "dying" in sandbox.take_stderr()
    assert not sandbox.alive
    try:
        await sandbox.request(call_request(5))
    except SandboxError as exc:
        assert "not running" in str(exc)
    else:
        raise AssertionError("expected SandboxError")


async def test_kill_is_idempotent_and_removes_scratch(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote
) -> None:
    source = "import os\ndef f():\n    return os.getcwd()\n"
    sandbox = await loaded_python(nursery, settings, zygote, source)
    reply = await sandbox.request(call_request(5))
    scratch = reply.text
    assert scratch.startswith(str(settings.scratch_root))
    await sandbox.kill()
    await sandbox.kill()
    assert not pid_exists(sandbox.pid)
    assert list(settings.scratch_root.iterdir()) == []
    assert sandbox.exit_description() == "killed by signal SIGKILL"


async def test_child_sees_only_a_minimal_environment(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote
) -> None:
    sandbox = await loaded_python(
        nursery, settings, zygote, "import os\ndef f():\n    return sorted(os.environ)\n"
    )
    reply = await sandbox.request(call_request(5))
    assert reply.value == '["HOME", "LANG", "PATH", "TMPDIR"]'
    await sandbox.kill()


_ORPHANING_WORKER = r"""
import sys, trio
from pathlib import Path
from faas_trio.core.records import Runtime
from faas_trio.worker.sandbox.process import start_sandbox
from faas_trio.worker.sandbox.protocol import CallRequest, LoadRequest
from faas_trio.worker.sandbox.spawn import SpawnSettings
from faas_trio.worker.sandbox.zygote_client import Zygote

async def main():
    python, node, scratch, runtime = sys.argv[1:]
    settings = SpawnSettings(python, node or None, Path(scratch), 1024)
    async with trio.open_nursery() as nursery:
        zygote = Zygote(python)
        sandbox = await start_sandbox(nursery, Runtime(runtime), 64, settings, zygote)
        source = {
            "python": "import time\ndef f():\n    time.sleep(60)\n",
            "node": "async function f() { await new Promise((r) => setTimeout(r, 60000)); }",
        }[runtime]
        await sandbox.request(LoadRequest("f", source, 5))
        print(zygote.pid, sandbox.pid, flush=True)
        await sandbox.request(CallRequest("[]", 60, 1024))

trio.run(main)
"""


@pytest.mark.parametrize("runtime", [Runtime.PYTHON, pytest.param(Runtime.NODE, marks=needs_node)])
async def test_busy_child_dies_with_its_worker(settings: SpawnSettings, runtime: Runtime) -> None:
    argv = [settings.python, settings.node or "", str(settings.scratch_root), runtime.value]
    worker = await trio.lowlevel.open_process(
        [sys.executable, "-c", _ORPHANING_WORKER, *argv], stdout=subprocess.PIPE
    )
    assert worker.stdout is not None
    try:
        with trio.fail_after(10):
            line = b""
            while not line.endswith(b"\n"):
                chunk = await worker.stdout.receive_some(64)
                assert chunk, line
                line += chunk
        zygote, keeper = map(int, line.split())
        (runner,) = children_of(keeper)
        assert all(map(_running, (zygote, keeper, runner)))
    finally:
        worker.kill()
        await worker.wait()
    # The zygote dies with the worker, the keeper with the zygote, the runner with the keeper.
    with trio.fail_after(5):
        while any(map(_running, (zygote, keeper, runner))):  # noqa: ASYNC110 - not our children
            await trio.sleep(0.02)
