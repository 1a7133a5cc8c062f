"""The key hostile functions through the REST API of a whole platform that runs as an
unprivileged uid (65534): the rootless confinement (a user namespace with new network, PID,
IPC and mount namespaces, Landlock, seccomp, rlimits) holds end to end. The same attacks
against a platform running as root are in :mod:`.test_hostile`; the full batteries against a
rootless worker alone are in ``tests/worker/test_rootless.py``.

What the platform's uid owns is the hardest case for files: its FAAS_HOME (the store, the
keys) is the sandbox uid's own, so only Landlock keeps a function out of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import trio

from .conftest import StartPlatform, processes_of
from .test_hostile import call, confinement_metric, ordinary_call_succeeds, probe, worker_pids

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true",
        reason="the test drops from root to uid 65534 for the platform",
    ),
    pytest.mark.slow,  # 7-10 s: a platform start, and two calls that run to a 1 s timeout
]

UNPRIVILEGED = 65534
SLEEP = ["sleep", "619"]


def sleepers() -> set[int]:
    """Live ``sleep 619`` processes (what the setsid attack leaves, were it not killed)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().split(b"\0")[:2] == [
                word.encode() for word in SLEEP
            ]:
                found.add(int(entry.name))
        except OSError:
            continue
    return found


async def test_key_attacks_are_contained_on_a_platform_running_as_an_unprivileged_uid(
    platform: StartPlatform,
) -> None:
    up = await platform(as_user=UNPRIVILEGED, FAAS_WORKERS="1")
    assert {os.stat(f"/proc/{pid}").st_uid for pid in processes_of(up.home)} == {UNPRIVILEGED}
    workers = worker_pids(up)
    assert len(workers) == 1
    port = int(up.url.rsplit(":", 1)[1])
    battery: list[tuple[str, str, list[object], dict[str, str], str]] = [
        ("who", "import os\ndef f():\n    return [os.getuid(), os.getpid(), sorted(os.environ)]\n",
         [], {}, f'succeeded:[{UNPRIVILEGED}, 1, ["HOME", "LANG", "PATH", "TMPDIR"]]'),
        # Files: the store in FAAS_HOME belongs to the very uid the function runs as.
        ("db_file", probe("open(args[0], 'rb').read()"), [str(up.home / "faas.db")], {},
         "succeeded:PermissionError"),
        ("scan", probe("os.listdir(args[0])"), [str(up.home)], {}, "succeeded:PermissionError"),
        ("worker_environ", probe("open(f'/proc/{args[0]}/environ').read()"),
         [sorted(workers)[0]], {}, "succeeded:PermissionError"),
        ("write_out", probe("open('/tmp/planted-by-rootless-eve', 'w')"), [], {},
         "succeeded:PermissionError"),
        # Network: off, even to the platform's own frontend on loopback.
        ("frontend", probe("socket.create_connection(('127.0.0.1', args[0]), 2)"), [port], {},
         "succeeded:OSError"),
        # No escape past the timeout: a new session's grandchild dies with the call.
        ("setsid", "import subprocess\ndef f():\n"
         f"    subprocess.Popen({SLEEP!r}, start_new_session=True)\n"
         "    while True:\n        pass\n", [], {"timeout": "1"}, "timeout:"),
        ("fork_bomb", "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n"
         "        except OSError:\n            pass\n", [], {"timeout": "1"}, "timeout:"),
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
        (line,) = await confinement_metric(http)
        assert 'mode="rootless"' in line and 'seccomp="1"' in line, line
        assert 'landlock_abi="0"' not in line and line.endswith(" 1.0"), line
        assert (await http.post("/u/eve")).json()["error"] is False
        for name, source, args, params, expected in battery:
            with trio.fail_after(30):
                record = await call(http, name, source, args, runtime="python", **params)
            outcome = f"{record['state']}:{record['result']}"
            assert outcome.startswith(expected), (name, record)
        with trio.fail_after(30):
            await ordinary_call_succeeds(http, "python")
        assert sleepers() == set(), "a grandchild outlived its call"
        assert worker_pids(up) == workers, "the worker died"
        jobs = (await http.get("/u/eve/jobs")).json()["res"]
        assert len(jobs) == len(battery) + 1, json.dumps(jobs)[:2000]
    assert not await trio.Path("/tmp/planted-by-rootless-eve").exists()
