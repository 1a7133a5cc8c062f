"""Hostile functions through the REST API: each is contained, the worker process survives it,
and an ordinary call right after still succeeds."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from .conftest import Platform, StartPlatform, processes_of

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true", reason="confinement needs root"
)

#: Returns the name of the exception ``BODY`` raises, or 'allowed'.
PY_PROBE = """import os, socket
def f(*args):
    try:
        BODY
    except Exception as exc:
        return type(exc).__name__
    return 'allowed'
"""


def probe(body: str) -> str:
    return PY_PROBE.replace("BODY", body)


def worker_pids(up: Platform) -> set[int]:
    """The platform's worker processes (sandboxes have a minimal environment: not counted)."""
    return {
        pid
        for pid in processes_of(up.home)
        if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    }


async def call(
    http: httpx.AsyncClient, name: str, source: str, args: list[Any], **params: str
) -> dict[str, Any]:
    """Register ``source`` as ``name`` and run it once, waiting for its record.

    Cancellation: abandons the request (the job runs on).
    """
    registered = await http.post(f"/u/eve/fn/{name}", content=source, params=params)
    assert registered.json() == {"error": False, "res": 1}, registered.text
    ran = await http.post(f"/u/eve/fn/{name}/run?wait=20", content=json.dumps(args))
    assert ran.status_code == 200, ran.text
    record: dict[str, Any] = ran.json()["res"]
    return record


async def ordinary_call_succeeds(http: httpx.AsyncClient, runtime: str) -> None:
    source = {
        "python": "def add(a, b):\n    return a + b\n",
        "node": "function add(a, b) { return a + b; }",
    }[runtime]
    record = await call(http, "ordinary", source, [4, 7], runtime=runtime)
    assert (record["state"], record["result"]) == ("succeeded", "11"), record


def python_battery(up: Platform) -> list[tuple[str, str, list[Any], dict[str, str], str]]:
    """(name, source, args, registration params, expected ``state:result`` prefix)."""
    port = int(up.url.rsplit(":", 1)[1])
    db_port = int(up.env["FAAS_DB_PORT"])
    return [
        ("env", "import os\ndef f():\n    return sorted(os.environ)\n", [], {},
         'succeeded:["HOME", "LANG", "PATH", "TMPDIR"]'),
        ("environ", probe("open(f'/proc/{os.getppid() or 1}/environ').read()"), [], {},
         "succeeded:"),
        ("worker_environ", probe("open(f'/proc/{args[0]}/environ').read()"),
         [sorted(worker_pids(up))[0]], {}, "succeeded:PermissionError"),
        ("db_file", probe("open(args[0], 'rb').read()"), [str(up.home / "faas.db")], {},
         "succeeded:PermissionError"),
        ("scan", probe("os.listdir(args[0])"), [str(up.home)], {}, "succeeded:PermissionError"),
        ("frontend", probe("socket.create_connection(('127.0.0.1', args[0]), 2)"), [port], {},
         "succeeded:OSError"),
        ("dbmanager", probe("socket.create_connection(('127.0.0.1', args[0]), 2)"), [db_port],
         {}, "succeeded:OSError"),
        ("write_out", probe("open('/tmp/planted-by-eve', 'w')"), [], {},
         "succeeded:PermissionError"),
        ("kill_parent", "import os\ndef f():\n    os.kill(os.getppid(), 9)\n    os.kill(-1, 9)\n",
         [], {}, ""),
        ("fork_bomb", "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n"
         "        except OSError:\n            pass\n", [], {"timeout": "1"}, "timeout:"),
        ("memory_bomb", "def f():\n    return len(bytearray(6 << 30))\n", [], {},
         "failed:MemoryError"),
        ("cpu_loop", "def f():\n    while True:\n        pass\n", [], {"timeout": "1"}, "timeout:"),
        ("ignore_term", "import signal\ndef f():\n    for s in (signal.SIGTERM, signal.SIGALRM):\n"
         "        signal.signal(s, signal.SIG_IGN)\n    while True:\n        pass\n", [],
         {"timeout": "1"}, "timeout:"),
        ("flood", "import os\ndef f():\n    c = b'x' * (1 << 20)\n    for _ in range(200):\n"
         "        os.write(1, c)\n    return 'flooded'\n", [], {"timeout": "30"},
         "succeeded:flooded"),
        ("setsid", "import os, subprocess\ndef f():\n"
         "    subprocess.Popen(['sleep', '600'], start_new_session=True)\n    return 'left'\n",
         [], {}, "succeeded:left"),
        ("segfault", "import ctypes\ndef f():\n    return ctypes.string_at(0)\n", [], {},
         "failed:"),
    ]  # fmt: skip


NODE_BATTERY = [
    ("vm_escape", "function f() { return this.constructor.constructor('return process')().pid; }",
     "failed:"),
    ("require", "function f() { return require('child_process').execSync('id').toString(); }",
     "failed:"),
    ("import_escape", "async function f() { try { await import('fs'); } catch (e) {"
     " return e.constructor.constructor('return process')().pid; } }",
     "failed:Code generation from strings disallowed"),
    ("async_loop", "async function f() { for (;;) { await null; } }", "timeout:"),
    ("sync_loop", "function f() { for (;;) {} }", "timeout:"),
    ("heap_bomb", "function f() { const a = []; for (;;) { a.push(new Array(1e6).fill(1)); } }",
     ""),
]  # fmt: skip


def sleeping_processes() -> set[int]:
    """Live ``sleep 600`` processes (the setsid grandchild's)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == b"sleep\x00600\x00":
                found.add(int(entry.name))
        except OSError:
            continue
    return found


async def confinement_metric(http: httpx.AsyncClient) -> list[str]:
    """The ``faas_worker_confinement`` lines of ``/metrics``, once a worker has reported.

    Cancellation: stops scraping.
    """
    with trio.fail_after(10):
        while True:
            text = (await http.get("/metrics")).text
            lines = [line for line in text.splitlines() if line.startswith("faas_worker_conf")]
            if lines:
                return lines
            await trio.sleep(0.2)


async def test_python_battery(platform: StartPlatform) -> None:
    up = await platform(FAAS_WORKERS="1")
    workers = worker_pids(up)
    assert len(workers) == 1
    async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
        # The confinement in force is exported: here, as root, every part of it.
        (line,) = await confinement_metric(http)
        assert 'mode="root"' in line and 'seccomp="1"' in line and line.endswith(" 1.0"), line
        assert 'landlock_abi="0"' not in line and 'cgroup="none"' not in line, line
        assert (await http.post("/u/eve")).json()["error"] is False
        for name, source, args, params, expected in python_battery(up):
            with trio.fail_after(30):
                record = await call(http, name, source, args, runtime="python", **params)
                outcome = f"{record['state']}:{record['result']}"
                assert outcome.startswith(expected), (name, record)
                if name == "environ":  # PID 1 of its own namespace, or an unreadable file
                    assert "DB_URL" not in outcome and "FAAS_HOME" not in outcome, record
                if name == "setsid":
                    assert sleeping_processes() == set(), "a grandchild outlived its call"
                await ordinary_call_succeeds(http, "python")
            assert worker_pids(up) == workers, f"the worker died after {name}"
    assert not await trio.Path("/tmp/planted-by-eve").exists()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
async def test_node_battery(platform: StartPlatform) -> None:
    up = await platform(FAAS_WORKERS="1")
    workers = worker_pids(up)
    async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
        assert (await http.post("/u/eve")).json()["error"] is False
        for name, source, expected in NODE_BATTERY:
            with trio.fail_after(30):
                record = await call(http, name, source, [], runtime="node", timeout="1")
                assert f"{record['state']}:{record['result']}".startswith(expected), (name, record)
                assert record["state"] != "succeeded", (name, record)
                await ordinary_call_succeeds(http, "node")
            assert worker_pids(up) == workers, f"the worker died after {name}"
