"""The zygote that forks every sandbox: its protocol, how the worker learns how a child it did
not fork ended, and the zygote's own life (restarted when it dies or hangs, killed with the
pool, no zombies left)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import faas_trio.worker.sandbox.zygote_client as zygote_client
from faas_trio.core.records import JobState, Runtime
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox import confine
from faas_trio.worker.sandbox.process import SandboxError, start_sandbox
from faas_trio.worker.sandbox.protocol import SpawnRequest
from faas_trio.worker.sandbox.spawn import SpawnSettings
from faas_trio.worker.sandbox.zygote_client import Zygote, ZygoteFailed

from .conftest import (
    MakeDispatch,
    call_request,
    children_of,
    keeper_of,
    loaded_python,
    needs_root,
    pid_exists,
    processes_of_uid,
    zygote_pids,
)

SCRIPT = Path(zygote_client.__file__).resolve().parent / "zygote.py"
UID = "import os\ndef f(*args):\n    return os.getuid()\n"
confined = needs_root


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


async def wait_until_gone(pid: int, seconds: float = 5.0) -> None:
    """Wait until ``pid`` is neither running nor a zombie: exited and reaped."""
    with trio.fail_after(seconds):
        while pid_exists(pid):  # noqa: ASYNC110 - no event for another process's reaping
            await trio.sleep(0.01)


# -- the protocol, spoken directly to a zygote script ----------------------------------------


class RawZygote:
    """A zygote process driven over a blocking socket, as the worker would."""

    def __init__(self, python: str) -> None:
        self.socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socket.settimeout(5)
        argv = [python, "-I", "-S", "-B", str(SCRIPT)]
        argv += ["--parent", str(os.getpid()), "--socket", str(theirs.fileno())]
        self.process = subprocess.Popen(
            argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env={"LANG": "C.UTF-8"}
        )
        theirs.close()

    def ask(self, payload: bytes, fds: list[int]) -> tuple[dict[str, object], list[int]]:
        ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", fds))] if fds else []
        self.socket.sendmsg([payload], ancdata)
        data, received, _, _ = socket.recv_fds(self.socket, 4096, 4)
        reply = json.loads(data)
        assert isinstance(reply, dict)
        return reply, received

    def close(self) -> int:
        self.socket.close()
        return self.process.wait(timeout=5)


@pytest.fixture
def raw_zygote(settings: SpawnSettings) -> Iterator[RawZygote]:
    zygote = RawZygote(settings.python)
    yield zygote
    if zygote.process.poll() is None:
        zygote.process.kill()
        zygote.process.wait()
    zygote.socket.close()


def closed_by_peer(read_end: int) -> bool:
    """Whether every write end of the pipe is closed (its read end sees end of file)."""
    ready, _, _ = select.select([read_end], [], [], 5)
    return bool(ready) and os.read(read_end, 1) == b""


def test_malformed_requests_get_an_error_and_the_zygote_serves_on(
    raw_zygote: RawZygote, tmp_path: Path
) -> None:
    # Refused, and the zygote does not keep the descriptors it got.
    for payload, count, error in [(b"not json", 4, "JSON"), (b"{}", 1, "descriptors")]:
        sent = [os.pipe() for _ in range(count)]
        reply, fds = raw_zygote.ask(payload, [write_end for _, write_end in sent])
        assert error in str(reply.get("error")) and fds == [], reply
        for read_end, write_end in sent:
            os.close(write_end)
            assert closed_by_peer(read_end)
            os.close(read_end)

    pipes = [os.pipe() for _ in range(4)]
    stdin_r, stdin_w = pipes[0]
    status_r, status_w = pipes[3]
    given = [stdin_r, pipes[1][1], pipes[2][1], status_w]
    request = {"runtime": "ruby", "argv": [], "env": {}, "home": str(tmp_path), "confine": None}
    reply, fds = raw_zygote.ask(json.dumps(request).encode(), given)
    assert "ruby" in str(reply["error"]) and fds == []
    for bad_confine in ({"uid": "root", "nproc": 1}, {"uid": 0, "nproc": 1}, []):
        bad = dict(request, runtime="python", confine=bad_confine)
        reply, fds = raw_zygote.ask(json.dumps(bad).encode(), given)
        assert "confine" in str(reply["error"]) and fds == []

    # Still serving: a well-formed request starts a runner, which ends at end of its input.
    good = dict(request, runtime="python", argv=["--log-cap", "1024"])
    reply, fds = raw_zygote.ask(json.dumps(good).encode(), given)
    assert isinstance(reply.get("pid"), int) and len(fds) == 1, reply
    for fd in given:
        os.close(fd)
    os.close(stdin_w)
    pidfd = fds[0]
    assert select.select([pidfd], [], [], 5)[0], "the keeper did not exit"
    assert os.read(status_r, 8) == (0).to_bytes(4, "big")  # the runner exited with code 0
    for fd in (pidfd, status_r, pipes[1][0], pipes[2][0]):
        os.close(fd)
    assert raw_zygote.close() == 0  # exits at end of file on its socket


async def test_a_runner_that_cannot_start_reports_its_failure(
    zygote: Zygote, tmp_path: Path
) -> None:
    pipes = [os.pipe() for _ in range(4)]
    request = SpawnRequest("node", (str(tmp_path / "no-such-node"), "runner.js"), {}, str(tmp_path))
    given = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
    pid, pidfd = await zygote.spawn(request, given)
    for fd in given:
        os.close(fd)
    with trio.fail_after(5):
        await trio.lowlevel.wait_readable(pidfd)
    assert os.read(pipes[3][0], 8) == (70 << 8).to_bytes(4, "big")  # exit code 70
    assert b"runner failed" in os.read(pipes[2][0], 4096)
    os.close(pidfd)
    for fd in (pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0]):
        os.close(fd)
    await wait_until_gone(pid)


async def test_refused_request_leaves_the_zygote_running(
    zygote: Zygote, settings: SpawnSettings, nursery: trio.Nursery
) -> None:
    await loaded_python(nursery, settings, zygote, UID)
    first = zygote.pid
    pipes = [os.pipe() for _ in range(4)]
    with pytest.raises(ZygoteFailed, match="runtime"):
        request = SpawnRequest("cobol", (), {}, "/")
        await zygote.spawn(request, [pipes[0][0], *(w for _, w in pipes[1:])])
    for read_end, write_end in pipes:
        os.close(read_end)
        os.close(write_end)
    await loaded_python(nursery, settings, zygote, UID)
    assert zygote.pid == first


# -- how the worker learns how a child it did not fork ended ---------------------------------


@pytest.mark.parametrize(
    ("body", "returncode", "description"),
    [
        ("os._exit(3)", 3, "exit code 3"),
        ("ctypes.string_at(0)", -signal.SIGSEGV, "killed by signal SIGSEGV"),
    ],
)
async def test_runner_exit_is_reported_through_the_status_pipe(
    zygote: Zygote,
    settings: SpawnSettings,
    nursery: trio.Nursery,
    body: str,
    returncode: int,
    description: str,
) -> None:
    source = f"import ctypes, os\ndef f():\n    {body}\n"
    sandbox = await loaded_python(nursery, settings, zygote, source)
    with pytest.raises(SandboxError, match=description):
        await sandbox.request(call_request(5))
    assert (sandbox.returncode, sandbox.exit_description()) == (returncode, description)
    assert not sandbox.alive and not pid_exists(sandbox.pid)


async def test_killed_keeper_is_reported_as_sigkill_and_takes_its_runner(
    zygote: Zygote, settings: SpawnSettings, nursery: trio.Nursery
) -> None:
    sandbox = await loaded_python(nursery, settings, zygote, UID)
    uid = int((await sandbox.request(call_request(5))).text)
    (runner,) = children_of(sandbox.pid)
    os.kill(sandbox.pid, signal.SIGKILL)
    with trio.fail_after(5):
        while sandbox.alive:  # noqa: ASYNC110 - polls the pidfd, as the pool does
            await trio.sleep(0.01)
    assert sandbox.returncode == -signal.SIGKILL
    assert sandbox.exit_description() == "killed by signal SIGKILL"
    await wait_until_gone(runner)
    if settings.confined:  # checked while the sandbox still holds its uid
        with trio.fail_after(5):
            while processes_of_uid(uid):  # noqa: ASYNC110 - the namespace ends on its own
                await trio.sleep(0.01)
    await sandbox.kill()
    await wait_until_gone(sandbox.pid)


async def test_sandbox_holds_only_its_own_pipes(
    zygote: Zygote, settings: SpawnSettings, nursery: trio.Nursery
) -> None:
    source = (
        "import os, stat\n"
        "def f():\n"
        "    found = []\n"
        "    for fd in range(256):\n"
        "        try:\n"
        "            mode = os.fstat(fd).st_mode\n"
        "        except OSError:\n"
        "            continue\n"
        "        found.append([fd, stat.S_ISSOCK(mode), stat.S_ISFIFO(mode)])\n"
        "    return found\n"
    )
    found = await value_of_one_call(nursery, settings, zygote, source)
    # 0 is /dev/null, 1 and 2 the stderr pipe, 3 and 4 the protocol pipes: no socket to the
    # zygote, no status pipe.
    assert [fd for fd, _, _ in found] == [0, 1, 2, 3, 4], found
    assert not any(is_socket for _, is_socket, _ in found)
    assert [is_pipe for _, _, is_pipe in found] == [False, True, True, True, True]


async def test_a_sandbox_runs_nicer_than_its_worker(
    zygote: Zygote, settings: SpawnSettings, nursery: trio.Nursery
) -> None:
    """Tenants' code busy on every CPU leaves the platform's processes the CPU first, and a
    sandbox cannot take the priority back."""
    source = (
        "import os\n"
        "def f():\n"
        "    mine = os.nice(0)\n"
        "    try:\n"
        "        os.nice(-1)\n"
        "    except OSError:\n"
        "        return [mine, 'refused']\n"
        "    return [mine, os.nice(0)]\n"
    )
    found = await value_of_one_call(nursery, settings, zygote, source)
    assert found == [os.nice(0) + confine.SANDBOX_NICE, "refused"]


async def value_of_one_call(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote, source: str
) -> Any:
    """What ``f`` of ``source`` returns in a new sandbox from ``zygote`` (then killed)."""
    sandbox = await loaded_python(nursery, settings, zygote, source)
    try:
        reply = await sandbox.request(call_request(5))
        return json.loads(reply.value or "")
    finally:
        await sandbox.kill()


# -- the zygote's own life --------------------------------------------------------------------


async def test_killed_zygote_is_replaced_by_the_next_spawn(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    first = await run_job(pool, make_dispatch(UID, version=1), log_cap=4096, result_cap=1 << 20)
    keeper = keeper_of(int(first.result or "0"))
    (zygote,) = zygote_pids()
    os.kill(zygote, signal.SIGKILL)
    await wait_until_gone(keeper)  # its sandboxes die with it
    with trio.fail_after(5):
        while _state(zygote) not in ("Z", "gone"):  # noqa: ASYNC110 - not an event we get
            await trio.sleep(0.01)
    second = await run_job(pool, make_dispatch(UID, version=1), log_cap=4096, result_cap=1 << 20)
    assert second.state is JobState.SUCCEEDED and second.cold_start
    (replacement,) = zygote_pids()
    assert replacement != zygote and not pid_exists(zygote)


async def test_zygote_that_stops_answering_is_killed_and_replaced(
    zygote: Zygote,
    settings: SpawnSettings,
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Within the usual timeout: it starts.
    first = await loaded_python(nursery, settings, zygote, UID)
    monkeypatch.setattr(zygote_client, "SPAWN_TIMEOUT", 0.5)
    stuck = zygote.pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)
    with pytest.raises(SandboxError, match="did not answer in time"):
        await start_sandbox(nursery, Runtime.PYTHON, 128, settings, zygote)
    assert not pid_exists(stuck)  # killed and reaped
    assert [path.name for path in settings.scratch_root.iterdir()] == [first._home.name]
    with trio.fail_after(5):
        while first.alive:  # noqa: ASYNC110 - it died with its zygote; polls its pidfd
            await trio.sleep(0.01)
    await first.kill()
    monkeypatch.undo()  # the replacement has to start too
    second = await loaded_python(nursery, settings, zygote, UID)
    assert zygote.pid not in (None, stuck)
    await second.kill()


async def test_a_zygote_alive_after_the_kill_grace_is_killed_again_and_reaped(
    settings: SpawnSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    zygote = Zygote(settings.python)
    zygote._start()
    process = zygote._process
    assert process is not None
    # Its first SIGKILL is lost (as when a kill does not land within the grace).
    monkeypatch.setattr(process, "kill", lambda: None)
    monkeypatch.setattr(zygote_client, "_KILL_GRACE", 0.05)
    try:
        with trio.fail_after(10):
            await zygote.aclose()
        assert not pid_exists(process.pid)  # dead and reaped, not left running or a zombie
        assert process.returncode == -signal.SIGKILL
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


async def test_closing_the_pool_kills_and_reaps_the_zygote(
    nursery: trio.Nursery, settings: SpawnSettings, make_dispatch: MakeDispatch
) -> None:
    pool = WarmPool(nursery, settings, ttl=60, max_warm=4, init_timeout=5, default_memory_mb=128)
    outcome = await run_job(pool, make_dispatch(UID), log_cap=4096, result_cap=1 << 20)
    keeper = keeper_of(int(outcome.result or "0"))
    (zygote,) = zygote_pids()
    await pool.aclose()
    assert not pid_exists(zygote) and not pid_exists(keeper)
    late = await run_job(pool, make_dispatch(UID), log_cap=4096, result_cap=1 << 20)
    assert late.state is JobState.FAILED and "closed" in (late.error or "")
    assert zygote_pids() == set()


async def test_no_zombies_accumulate_after_many_spawns(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    for version in range(1, 42):
        # Each new version kills the previous one's idle sandbox; every fifth keeper is
        # killed from outside instead, so the zygote reaps it with no help from the worker.
        outcome = await run_job(
            pool, make_dispatch(UID, version=version), log_cap=4096, result_cap=1 << 20
        )
        assert outcome.state is JobState.SUCCEEDED, outcome
        if version % 5 == 0:
            os.kill(keeper_of(int(outcome.result or "0")), signal.SIGKILL)
    (zygote,) = zygote_pids()
    with trio.fail_after(5):
        while children_of(zygote) != set(pool.idle_pids):  # noqa: ASYNC110 - polling /proc
            await trio.sleep(0.01)
    (last,) = pool.idle_pids
    assert _state(last) not in ("Z", "X", "gone")


_UNPRIVILEGED_WORKER = r"""
import json, os, sys, trio
from pathlib import Path
import faas_trio
from faas_trio.core.records import Function, Runtime
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.protocol import CallRequest
from faas_trio.worker.sandbox.spawn import SpawnSettings

def children(pid):
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

async def main():
    python, scratch = sys.argv[1:]
    # Started as root (the interpreter lives where only root can read), then unprivileged.
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
    settings = SpawnSettings(python, None, Path(scratch), 1024, mode="off")
    source = (
        "import os, subprocess\n"
        "def f():\n"
        "    sleeper = subprocess.Popen(['sleep', '60']).pid\n"
        "    return [os.getuid(), os.getpid(), os.getppid(), sleeper]\n"
    )
    function = Function(
        user="ann", name="f", source=source, runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64
    )
    async with trio.open_nursery() as nursery:
        pool = WarmPool(nursery, settings, ttl=60, max_warm=2, init_timeout=5, default_memory_mb=64)
        lease = await pool.acquire(function)
        reply = await lease.sandbox.request(CallRequest("[]", 5, 1024))
        uid, runner, keeper, sleeper = json.loads(reply.value or "")
        (zygote,) = children(os.getpid())
        tree = children(zygote) == [keeper] == [lease.sandbox.pid] and children(keeper) == [runner]
        await pool.release(lease, reusable=False)
        print(json.dumps({
            "confined": settings.confined, "uid": uid, "tree": tree, "pids": [runner, sleeper],
            "package": str(Path(faas_trio.__file__).parent),
        }), flush=True)
        await pool.aclose()
        nursery.cancel_scope.cancel()

trio.run(main)
"""


@confined
async def test_unconfined_sandboxes_start_through_the_zygote_too(settings: SpawnSettings) -> None:
    scratch = tempfile.mkdtemp(prefix="faas-unconfined-")
    os.chown(scratch, 65534, 65534)
    # A copy of the package that uid 65534 can read: the checkout may be where only root can
    # (a clone under /root), and the zygote and runner scripts are read after the drop.
    code = tempfile.mkdtemp(prefix="faas-code-")
    os.chmod(code, 0o755)
    package = Path(zygote_client.__file__).parents[2]
    copy = Path(code) / "faas_trio"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        with trio.fail_after(30):
            done = await trio.run_process(
                [sys.executable, "-c", _UNPRIVILEGED_WORKER, settings.python, scratch],
                capture_stdout=True,
                cwd=code,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(code, ignore_errors=True)
    facts = json.loads(done.stdout)
    assert facts["package"] == str(copy)  # the copy, not the checkout
    assert facts["confined"] is False and facts["uid"] == 65534
    assert facts["tree"], facts  # worker -> zygote -> keeper -> runner
    # The kill took the runner's own child with it, as a namespace would when confined.
    for pid in facts["pids"]:
        assert _state(pid) in ("gone", "Z"), facts
