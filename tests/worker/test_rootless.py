"""The hostile batteries against a worker that is not root (uid 65534): its sandboxes are
confined with a user namespace (one uid), fresh network, PID, IPC and mount namespaces,
Landlock, seccomp and limits, and every attack is contained as it is under root.

The tests run as root and start the worker's pool in a subprocess that drops to uid 65534
before anything else, from a copy of the package that uid can read.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from faas_trio.worker.sandbox import zygote_client

from .conftest import NODE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true",
    reason="the test drops from root to uid 65534 for the worker",
)

UNPRIVILEGED = 65534

#: Run as uid 65534: a pool with the worker's confinement, one call per battery entry.
_WORKER = r"""
import dataclasses, json, os, sys, trio
from pathlib import Path
from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import Dispatch
from faas_trio.core.records import Function, JobRecord, Runtime
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.isolation import assess
from faas_trio.worker.sandbox.spawn import SpawnSettings

async def main():
    python, node, scratch = sys.argv[1:4]
    battery = json.loads(sys.stdin.read())
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
    isolation = assess("strict", python)
    settings = SpawnSettings(python, node or None, Path(scratch), 4096, mode=isolation.mode,
                             cgroups=isolation.cgroups)
    results = {"isolation": [isolation.mode, isolation.missing()], "worker_pid": os.getpid()}
    async with trio.open_nursery() as nursery:
        pool = WarmPool(nursery, settings, ttl=60, max_warm=4, init_timeout=10,
                        default_memory_mb=128)
        for number, (name, runtime, source, args, timeout) in enumerate(battery):
            args = [os.getpid() if arg == "WORKER" else arg for arg in args]
            function = Function(user="eve", name="f", source=source, runtime=Runtime(runtime),
                                timeout=timeout, memory_mb=128, version=number + 1)
            job = JobRecord(id=new_job_id(), user="eve", function="f", runtime=Runtime(runtime),
                            args=json.dumps(args), attempts=1)
            outcome = await run_job(pool, Dispatch(job=job, function=function), log_cap=4096,
                                    result_cap=1 << 20)
            results[name] = [outcome.state.value, outcome.result]
        await pool.aclose()
        nursery.cancel_scope.cancel()
    print(json.dumps(results), flush=True)

trio.run(main)
"""

PROBE = """import ctypes, errno, os, socket
def f(*args):
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        BODY
    except Exception as exc:
        return type(exc).__name__
    return 'allowed'
"""


def probe(body: str) -> str:
    return PROBE.replace("BODY", body)


def raw(call: str) -> str:
    """A probe body making a raw system call; the errno name when refused."""
    return (
        f"result = libc.syscall({call})\n"
        "        if result < 0:\n"
        "            return errno.errorcode[ctypes.get_errno()]"
    )


NODE_PATH = os.path.realpath(NODE) if NODE else ""
ORDINARY = ("ordinary", "python", "def f(a, b):\n    return a + b\n", [4, 7], 5.0)


def python_battery(secret: Path, port: int) -> list[tuple[str, str, str, list[Any], float]]:
    """(name, runtime, source, args, timeout); each attack is followed by an ordinary call."""
    attacks: list[tuple[str, str, str, list[Any], float]] = [
        ("who", "python", "import os\ndef f():\n    return [os.getuid(), os.getpid(),"
         " sorted(os.environ)]\n", [], 5.0),
        ("secret", "python", probe("open(args[0]).read()"), [str(secret)], 5.0),
        ("listdir", "python", probe("os.listdir(args[0])"), [str(secret.parent)], 5.0),
        ("worker_environ", "python", probe("open(f'/proc/{args[0]}/environ').read()"),
         ["WORKER"], 5.0),
        ("write_tmp", "python", probe("open('/tmp/planted-by-rootless', 'w')"), [], 5.0),
        ("network", "python", probe("socket.create_connection(('127.0.0.1', args[0]), 2)"),
         [port], 5.0),
        ("ptrace", "python", probe(raw("101, 0, 0, 0, 0")), [], 5.0),
        ("unshare_user", "python", probe(raw("272, 0x10000000")), [], 5.0),
        ("keyctl", "python", probe(raw("250, 0, -4, 0")), [], 5.0),
        ("mount", "python", probe(raw("165, b'none', b'/tmp', b'tmpfs', 0, 0")), [], 5.0),
        ("kill_all", "python", "import os\ndef f():\n    os.kill(-1, 9)\n    return 1\n", [], 5.0),
        ("fork_bomb", "python", "import os\ndef f():\n    while True:\n        try:\n"
         "            os.fork()\n        except OSError:\n            pass\n", [], 1.0),
        ("memory_bomb", "python", "def f():\n    return len(bytearray(6 << 30))\n", [], 5.0),
        ("setsid", "python", "import subprocess\ndef f():\n"
         "    subprocess.Popen(['sleep', '613'], start_new_session=True)\n    return 'left'\n",
         [], 5.0),
        ("traceme", "python", "import ctypes, os, signal\ndef f():\n"
         "    libc = ctypes.CDLL(None, use_errno=True)\n"
         "    traced = libc.ptrace(0, 0, None, None)\n"
         "    return [traced, ctypes.get_errno()]\n", [], 5.0),
    ]  # fmt: skip
    battery = []
    for attack in attacks:
        battery += [attack, (f"after_{attack[0]}", *ORDINARY[1:])]
    return battery


NODE_BATTERY = [
    ("vm_escape", "node",
     "function f() { return this.constructor.constructor('return process')().pid; }", [], 1.0),
    ("require", "node",
     "function f() { return require('child_process').execSync('id').toString(); }", [], 1.0),
    ("sync_loop", "node", "function f() { for (;;) {} }", [], 1.0),
    ("heap_bomb", "node",
     "function f() { const a = []; for (;;) { a.push(new Array(1e6).fill(1)); } }", [], 1.0),
    ("node_ordinary", "node", "function f(a, b) { return a + b; }", [4, 7], 5.0),
]  # fmt: skip


@pytest.fixture
def readable_copy() -> Iterator[Path]:
    """A copy of the package uid 65534 can read (the checkout may be under /root)."""
    code = Path(tempfile.mkdtemp(prefix="faas-rootless-code-"))
    code.chmod(0o755)
    package = Path(zygote_client.__file__).parents[2]
    shutil.copytree(package, code / "faas_trio", ignore=shutil.ignore_patterns("__pycache__"))
    yield code
    shutil.rmtree(code, ignore_errors=True)


def sleepers() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == b"sleep\x00613\x00":
                found.add(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def worker_files() -> Iterator[tuple[Path, Path]]:
    """A scratch root for uid 65534, and a secret it could read were it not for the sandbox
    (a file of its own, in a folder it may list)."""
    scratch = Path(tempfile.mkdtemp(prefix="faas-rootless-scratch-"))
    secret_dir = Path(tempfile.mkdtemp(prefix="faas-rootless-secret-"))
    secret = secret_dir / "faas.db"
    secret.write_text("credentials")
    for path in (scratch, secret_dir, secret):
        os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
    secret_dir.chmod(0o755)
    yield scratch, secret
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(secret_dir, ignore_errors=True)


PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


async def test_hostile_batteries_as_an_unprivileged_worker(
    readable_copy: Path, worker_files: tuple[Path, Path]
) -> None:
    scratch, secret = worker_files
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    battery = python_battery(secret, listener.getsockname()[1])
    if NODE is not None:
        battery += NODE_BATTERY
    try:
        with trio.fail_after(240):
            done = await trio.run_process(
                [sys.executable, "-c", _WORKER, PYTHON, NODE_PATH, str(scratch)],
                stdin=json.dumps(battery).encode(), capture_stdout=True, capture_stderr=True,
                cwd=readable_copy, check=False,
            )  # fmt: skip
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    seen = json.loads(done.stdout)
    assert seen["isolation"] == ["rootless", []]
    for name, *_ in battery:
        if name.startswith("after_") or name == "node_ordinary":
            assert seen[name] == ["succeeded", "11"], (name, seen[name])
    expected = {
        "secret": "PermissionError",
        "listdir": "PermissionError",
        "worker_environ": "PermissionError",
        "write_tmp": "PermissionError",
        "network": "OSError",
        "ptrace": "EPERM",
        "unshare_user": "EPERM",
        "keyctl": "EPERM",
        "mount": "EPERM",
    }
    assert {name: seen[name] for name in expected} == {
        name: ["succeeded", result] for name, result in expected.items()
    }
    uid, pid, env = json.loads(seen["who"][1])
    assert (uid, pid, env) == (UNPRIVILEGED, 1, ["HOME", "LANG", "PATH", "TMPDIR"])
    assert seen["fork_bomb"][0] == "timeout"
    assert seen["memory_bomb"] == ["failed", "MemoryError"]
    assert seen["traceme"][0] == "succeeded" and seen["traceme"][1].startswith("[-1, 1]")
    assert sleepers() == set(), "a grandchild outlived its call"
    assert not await trio.Path("/tmp/planted-by-rootless").exists()
    if NODE is not None:
        for name in ("vm_escape", "require", "sync_loop", "heap_bomb"):
            assert seen[name][0] in ("failed", "timeout"), (name, seen[name])
