"""Fixtures for the worker tests: spawn settings, a zygote, a warm pool, dispatch builders."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import trio

from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import Dispatch
from faas_trio.core.records import Function, JobRecord, Runtime
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.cgroups import detect
from faas_trio.worker.sandbox.process import Sandbox, start_sandbox
from faas_trio.worker.sandbox.protocol import CallRequest, LoadRequest
from faas_trio.worker.sandbox.spawn import SpawnSettings
from faas_trio.worker.sandbox.zygote_client import Zygote

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
#: Confinement tests need root (uid switches, cgroups, dropping to another uid); under CI they
#: run regardless, so that one that cannot run fails instead of passing unseen.
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true", reason="confinement needs root"
)
#: Memory limit tests need a cgroup hierarchy (under CI, they run regardless and fail).
needs_cgroups = pytest.mark.skipif(
    os.environ.get("CI") != "true" and not os.path.isdir("/sys/fs/cgroup/memory")
    and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
    reason="no cgroup hierarchy here",
)  # fmt: skip
_versions = itertools.count(1)
#: Sandbox uids of this test session: not the platform's default range, and (most likely) not
#: another session's, so a test that looks for the processes of a uid it released does not see
#: a sandbox of a platform or test run beside it that claimed that uid next. The processes of
#: one run under pytest-xdist (gw0, gw1…, children of one controller) get disjoint ranges.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER[2:].isdigit():
    UID_BASE = 200_000 + ((os.getppid() % 100) * 10 + int(_XDIST_WORKER[2:]) % 10) * 1000
else:
    UID_BASE = 200_000 + (os.getpid() % 1000) * 1000

MakeDispatch = Callable[..., Dispatch]


def pid_exists(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie counts: it was not reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[SpawnSettings]:
    """Spawn settings as the worker makes them: confined (as root: a uid each; else
    rootless), with a cgroup per sandbox where this machine has them."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    assert python is not None
    cgroups = detect()
    yield SpawnSettings(
        python=python,
        node=os.path.realpath(NODE) if NODE else None,
        scratch_root=tmp_path / "scratch",
        log_cap=4096,
        uid_base=UID_BASE,
        cgroups=cgroups,
    )
    if cgroups is not None:
        cgroups.remove()


@pytest.fixture
async def zygote(settings: SpawnSettings) -> AsyncIterator[Zygote]:
    spawner = Zygote(settings.python)
    yield spawner
    await spawner.aclose()


@pytest.fixture
async def pool(nursery: trio.Nursery, settings: SpawnSettings) -> AsyncIterator[WarmPool]:
    warm = WarmPool(
        nursery, settings, ttl=60.0, max_warm=8, init_timeout=5.0, default_memory_mb=128
    )
    yield warm
    await warm.aclose()


@pytest.fixture
def make_dispatch() -> MakeDispatch:
    """Build a Dispatch; each call is a new function version unless ``version`` is given."""

    def make(
        source: str,
        args: str = "[]",
        *,
        runtime: Runtime = Runtime.PYTHON,
        name: str = "f",
        user: str = "ann",
        timeout: float = 5.0,
        memory_mb: int = 128,
        version: int | None = None,
    ) -> Dispatch:
        function = Function(
            user=user,
            name=name,
            source=source,
            runtime=runtime,
            timeout=timeout,
            memory_mb=memory_mb,
            version=next(_versions) if version is None else version,
        )
        job = JobRecord(
            id=new_job_id(), user=user, function=name, runtime=runtime, args=args, attempts=1
        )
        return Dispatch(job=job, function=function)

    return make


def children_of(pid: int) -> set[int]:
    """Pids of ``pid``'s live or unreaped children (from /proc)."""
    pids: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return pids
    for task in tasks:
        try:
            pids.update(int(child) for child in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return pids


def zygote_pids() -> set[int]:
    """Pids of this process's zygotes (children running ``zygote.py``), unreaped ones too."""
    found = set()
    for pid in children_of(os.getpid()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if any(arg.endswith(b"/zygote.py") for arg in argv):
            found.add(pid)
    return found


def sandbox_pids() -> set[int]:
    """Pids of this process's sandboxes (their keepers), live or unreaped: its zygotes'
    children, and any child of its own that is not a zygote."""
    zygotes = zygote_pids()
    pids = children_of(os.getpid()) - zygotes
    for zygote in zygotes:
        pids |= children_of(zygote)
    return pids


def processes_of_uid(uid: int) -> list[int]:
    """Pids of live processes (zombies excluded) whose real uid is ``uid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = dict(
                line.split(":", 1) for line in (entry / "status").read_text().splitlines()
            )
        except (OSError, ValueError):
            continue
        if int(status["Uid"].split()[0]) == uid and status["State"].split()[0] not in "ZX":
            found.append(int(entry.name))
    return found


def keeper_of(uid: int) -> int:
    """The pid (as the worker sees it: its keeper's) of the sandbox running as ``uid``; a
    confined function sees itself as PID 1, so tests identify sandboxes by uid."""
    for pid in sandbox_pids():
        if any(Path(f"/proc/{child}").stat().st_uid == uid for child in children_of(pid)):
            return pid
    raise LookupError(f"no sandbox runs as uid {uid}")


def call_request(timeout: float, args: str = "[]") -> CallRequest:
    """A call of the loaded function with ``args``, a result of up to 1 MiB."""
    return CallRequest(args=args, timeout=timeout, result_cap=1 << 20)


async def loaded_python(
    nursery: trio.Nursery, settings: SpawnSettings, zygote: Zygote, source: str
) -> Sandbox:
    """A new Python sandbox from ``zygote`` with ``source`` loaded (its function is ``f``)."""
    sandbox = await start_sandbox(nursery, Runtime.PYTHON, 128, settings, zygote)
    reply = await sandbox.request(LoadRequest("f", source, 5))
    assert reply.ok is True, reply
    return sandbox
