"""Hostile functions against the sandbox: each is contained, and the worker then still runs an
ordinary call. These run as root (like the platform), so the uid switch and namespaces apply."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from faas_trio.core.records import JobState, Outcome, Runtime
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.logbuffer import TRUNCATED_NOTE
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .conftest import MakeDispatch, needs_node, needs_root, processes_of_uid, sandbox_pids

#: This checkout: a file a sandbox must not read, wherever the tests run.
_CHECKOUT = Path(__file__).resolve().parents[2]

pytestmark = needs_root


async def run(
    pool: WarmPool, make_dispatch: MakeDispatch, source: str, *args: object, **kwargs: object
) -> Outcome:
    return await run_job(
        pool,
        make_dispatch(source, json.dumps(list(args)), **kwargs),
        log_cap=4096,
        result_cap=1 << 20,
    )


@pytest.fixture
async def checked_pool(pool: WarmPool, make_dispatch: MakeDispatch) -> AsyncIterator[WarmPool]:
    """The pool; at teardown an ordinary call in each runtime must still succeed."""
    yield pool
    ordinary = await run(pool, make_dispatch, "def f(a, b):\n    return a + b\n", 4, 7)
    assert (ordinary.state, ordinary.result) == (JobState.SUCCEEDED, "11")


def errno_name(expression: str) -> str:
    """Source of a function that returns the exception raised by ``expression``, or 'allowed'."""
    return (
        "import os, socket\n"
        "def f(*args):\n"
        "    try:\n"
        f"        {expression}\n"
        "    except Exception as exc:\n"
        "        return type(exc).__name__\n"
        "    return 'allowed'\n"
    )


async def test_worker_environment_is_not_visible(
    checked_pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    env = await run(
        checked_pool, make_dispatch, "import os\ndef f():\n    return dict(os.environ)\n"
    )
    assert env.state is JobState.SUCCEEDED
    assert set(json.loads(env.value or "{}")) == {"HOME", "LANG", "PATH", "TMPDIR"}
    environ = await run(
        checked_pool, make_dispatch, errno_name("open(f'/proc/{args[0]}/environ').read()"),
        os.getpid(),
    )  # fmt: skip
    assert environ.result == "PermissionError"


def plant_secret(tmp_path: Path) -> Path:
    """A world-readable file in a world-writable directory: only the sandbox stops access."""
    secret = tmp_path / "home" / "faas.db"
    secret.parent.mkdir()
    secret.write_text("credentials")
    secret.chmod(0o644)
    tmp_path.chmod(0o777)
    return secret


async def test_files_outside_scratch_are_neither_readable_nor_writable(
    checked_pool: WarmPool, make_dispatch: MakeDispatch, tmp_path: Path
) -> None:
    secret = plant_secret(tmp_path)
    for expression, args in [
        ("open(args[0]).read()", [str(secret)]),
        ("os.listdir(args[0])", [str(secret.parent)]),
        ("os.listdir('/')", []),
        ("open(os.path.join(args[0], 'planted'), 'w')", [str(tmp_path)]),
        ("open('/tmp/planted', 'w')", []),
        ("open('/etc/shadow').read()", []),
        ("open(args[0]).read()", [str(_CHECKOUT / "pyproject.toml")]),
    ]:
        outcome = await run(checked_pool, make_dispatch, errno_name(expression), *args)
        assert outcome.result == "PermissionError", (expression, outcome)
    assert not await trio.Path(tmp_path / "planted").exists()
    scratch = await run(
        checked_pool, make_dispatch,
        "import os\ndef f():\n    open('mine', 'w').write('x')\n    return open('mine').read()\n",
    )  # fmt: skip
    assert scratch.result == "x"


async def test_other_sandboxes_scratch_is_not_readable(
    checked_pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    writer = await run(
        checked_pool, make_dispatch,
        "import os\ndef f():\n    open('secret', 'w').write('ann')\n    return os.getcwd()\n",
        user="ann",
    )  # fmt: skip
    assert writer.state is JobState.SUCCEEDED  # and its child stays warm, scratch and all
    reader = await run(
        checked_pool, make_dispatch, errno_name("open(args[0] + '/secret').read()"),
        writer.result, user="bob",
    )  # fmt: skip
    assert reader.result == "PermissionError"


async def test_no_network_not_even_loopback(
    checked_pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        connect = "socket.create_connection(('127.0.0.1', args[0]), timeout=2)"
        outcome = await run(checked_pool, make_dispatch, errno_name(connect), port)
        assert outcome.result == "OSError", outcome
        with pytest.raises(BlockingIOError):
            listener.accept()
    outside = await run(
        checked_pool, make_dispatch, errno_name("socket.create_connection(('1.1.1.1', 53), 2)")
    )
    assert outside.result == "OSError"


@pytest.mark.parametrize(
    "attack",
    [
        "os.kill(os.getppid(), 9)",
        "os.kill(-1, 9)",
        "os.killpg(os.getpgid(0), 9)",
    ],
)
async def test_signalling_the_parent_hurts_no_one_else(
    checked_pool: WarmPool, make_dispatch: MakeDispatch, attack: str
) -> None:
    await run(checked_pool, make_dispatch, f"import os\ndef f():\n    {attack}\n    return 1\n")


async def test_fork_bomb_is_bounded_and_leaves_nothing(
    checked_pool: WarmPool, make_dispatch: MakeDispatch, settings: SpawnSettings
) -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    uid = os.getuid()\n"
        "    os.write(2, f'{uid}\\n'.encode())\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    )
    outcome = await run(checked_pool, make_dispatch, source, timeout=1.0)
    assert outcome.state is JobState.TIMEOUT
    uid = int(outcome.logs.split()[0])
    assert processes_of_uid(uid) == []


async def test_bounded_forks_then_call_ends_them(
    checked_pool: WarmPool, make_dispatch: MakeDispatch, settings: SpawnSettings
) -> None:
    source = (
        "import os, time\n"
        "def f():\n"
        "    made = 0\n"
        "    try:\n"
        "        while made < 1000:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(60)\n"
        "                os._exit(0)\n"
        "            made += 1\n"
        "    except OSError:\n"
        "        pass\n"
        "    return [made, os.getuid()]\n"
    )
    outcome = await run(checked_pool, make_dispatch, source)
    made, uid = json.loads(outcome.value or "[]")
    assert 0 < made < settings.nproc
    assert len(processes_of_uid(uid)) == 1  # the forked ones ended with the call


async def test_memory_bomb_fails_alone(checked_pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run(
        checked_pool, make_dispatch, "def f():\n    return len(bytearray(6 << 30))\n"
    )
    assert (outcome.state, outcome.result) == (JobState.FAILED, "MemoryError")


async def test_cpu_loop_times_out(checked_pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run(checked_pool, make_dispatch, "def f():\n    while True:\n        pass\n",
                        timeout=0.5)  # fmt: skip
    assert outcome.state is JobState.TIMEOUT


async def test_ignoring_signals_does_not_outlast_the_timeout(
    checked_pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import signal\n"
        "def f():\n"
        "    for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP):\n"
        "        signal.signal(sig, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"
    )
    before = sandbox_pids()
    with trio.fail_after(0.5 + 1.0 + 1.0):  # the timeout, plus a second, plus slack for CI
        outcome = await run(checked_pool, make_dispatch, source, timeout=0.5)
    assert outcome.state is JobState.TIMEOUT
    assert sandbox_pids() <= before


async def test_output_flood_is_capped(checked_pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = (
        "import os, sys\n"
        "def f():\n"
        "    chunk = 'x' * (1 << 20)\n"
        "    for _ in range(100):\n"
        "        print(chunk)\n"
        "        os.write(1, chunk.encode())\n"
        "    return 'flooded'\n"
    )
    outcome = await run(checked_pool, make_dispatch, source, timeout=20.0)
    assert outcome.result == "flooded"
    assert outcome.logs.count(TRUNCATED_NOTE) >= 1
    assert len(outcome.logs) <= 2 * 4096 + 2 * len(TRUNCATED_NOTE)


async def test_setsid_grandchild_does_not_outlive_the_call(
    checked_pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import os, subprocess\n"
        "def f():\n"
        "    subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "    os.system('setsid sleep 60 &')\n"
        "    return os.getuid()\n"
    )
    outcome = await run(checked_pool, make_dispatch, source)
    uid = int(outcome.result or "0")
    assert len(processes_of_uid(uid)) == 1  # only the warm runner is left


async def test_crashes_fail_only_their_call(
    checked_pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    for source in (
        "import os\ndef f():\n    os._exit(3)\n",
        "import ctypes\ndef f():\n    return ctypes.string_at(0)\n",
    ):
        outcome = await run(checked_pool, make_dispatch, source)
        assert outcome.state is JobState.FAILED
        assert (outcome.error or "").startswith("SandboxError"), outcome


@needs_node
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("function f() { return this.constructor.constructor('return process')().pid; }",
         "EvalError"),
        ("function f() { return (() => {}).constructor('return process')().pid; }", "EvalError"),
        ("function f() { return require('child_process').execSync('id').toString(); }",
         "ReferenceError"),
        ("function f() { return process.env; }", "ReferenceError"),
        ("function f() { return Buffer.alloc(6 * 1024 ** 3).length; }", "ReferenceError"),
    ],
)  # fmt: skip
async def test_node_escapes_fail(
    checked_pool: WarmPool, make_dispatch: MakeDispatch, source: str, expected: str
) -> None:
    outcome = await run(checked_pool, make_dispatch, source, runtime=Runtime.NODE)
    assert outcome.state is JobState.FAILED
    assert (outcome.error or "").startswith(expected), outcome


@needs_node
@pytest.mark.parametrize(
    "source",
    [
        "async function f() { for (;;) { await null; } }",
        "function f() { for (;;) {} }",
        "function f() { const a = []; for (;;) { a.push(new Array(1e6).fill(1)); } }",
    ],
)
async def test_node_runaways_are_stopped(
    checked_pool: WarmPool, make_dispatch: MakeDispatch, source: str
) -> None:
    outcome = await run(checked_pool, make_dispatch, source, runtime=Runtime.NODE, timeout=1.0)
    assert outcome.state in (JobState.TIMEOUT, JobState.FAILED), outcome
