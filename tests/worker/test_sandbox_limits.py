"""Limits that hold for a sandbox as a whole: its memory cgroup (every process, memfd and
SysV segment counted together), its pids cgroup, its scratch tmpfs, and kernel keyrings left
on its uid by an earlier tenant."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import subprocess

import pytest
import trio

from faas_trio.core.records import JobState, Outcome
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox import syscall_filter
from faas_trio.worker.sandbox.cgroups import detect
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .conftest import UID_BASE, MakeDispatch, needs_cgroups, needs_root

pytestmark = needs_root


async def run(pool: WarmPool, make_dispatch: MakeDispatch, source: str, **kw: object) -> Outcome:
    return await run_job(pool, make_dispatch(source, **kw), log_cap=4096, result_cap=1 << 20)


def assert_out_of_memory(outcome: Outcome) -> None:
    assert outcome.state is JobState.FAILED, outcome
    assert (outcome.error or "").startswith("OutOfMemory: out of memory"), outcome
    assert "memory_mb" in (outcome.result or "")


@pytest.fixture
def cgroup_settings(settings: SpawnSettings) -> SpawnSettings:
    assert settings.cgroups is not None, "this machine has cgroups: they must be used"
    return settings


@needs_cgroups
async def test_memfd_counts_against_memory_mb(
    cgroup_settings: SpawnSettings, pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    # Not mapped, so no address-space limit sees it: only the cgroup does (several memfds,
    # each under the file size limit).
    source = (
        "import os\n"
        "def f():\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    hoard = [os.memfd_create('hoard') for _ in range(8)]\n"
        "    for fd in hoard:\n"
        "        for _ in range(50):\n"
        "            os.write(fd, chunk)\n"
        "    return 'kept 400 MiB'\n"
    )
    assert_out_of_memory(await run(pool, make_dispatch, source, memory_mb=64))


@needs_cgroups
async def test_sysv_shared_memory_counts_against_memory_mb(
    cgroup_settings: SpawnSettings, pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import ctypes\n"
        "def f():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    libc.shmat.restype = ctypes.c_void_p\n"
        "    size = 110 << 20\n"
        "    segment = libc.shmget(0, size, 0o1600)\n"
        "    address = libc.shmat(segment, None, 0)\n"
        "    ctypes.memset(address, 1, size)\n"
        "    return 'kept 110 MiB'\n"
    )
    assert_out_of_memory(await run(pool, make_dispatch, source, memory_mb=64))


@needs_cgroups
async def test_memory_is_bounded_for_all_processes_together(
    cgroup_settings: SpawnSettings, pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    # Each child stays well inside the per-process address-space limit; together they do not.
    source = (
        "import os, time\n"
        "def f():\n"
        "    children = []\n"
        "    for _ in range(4):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            hoard = bytearray(40 << 20)\n"
        "            for i in range(0, len(hoard), 4096):\n"
        "                hoard[i] = 1\n"
        "            time.sleep(5)\n"
        "            os._exit(0)\n"
        "        children.append(pid)\n"
        "    return [os.waitpid(pid, 0)[1] for pid in children]\n"
    )
    assert_out_of_memory(await run(pool, make_dispatch, source, memory_mb=64))
    # The worker goes on: the next call with room enough succeeds.
    fits = await run(pool, make_dispatch, "def f():\n    return len(bytearray(32 << 20))\n",
                     memory_mb=64)  # fmt: skip
    assert (fits.state, fits.result) == (JobState.SUCCEEDED, str(32 << 20)), fits


@needs_cgroups
async def test_process_count_is_bounded_per_sandbox(
    cgroup_settings: SpawnSettings, pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import os, resource, time\n"
        "def f():\n"
        "    made = 0\n"
        "    try:\n"
        "        while made < 1000:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(30)\n"
        "                os._exit(0)\n"
        "            made += 1\n"
        "    except OSError:\n"
        "        pass\n"
        "    return [made, resource.getrlimit(resource.RLIMIT_NPROC)[0]]\n"
    )
    outcome = await run(pool, make_dispatch, source)
    made, nproc_limit = json.loads(outcome.value or "[]")
    assert 0 < made < cgroup_settings.nproc
    assert nproc_limit != cgroup_settings.nproc  # the cgroup bounds it, not a per-uid limit


async def test_scratch_is_a_capped_tmpfs_of_its_own(
    settings: SpawnSettings, pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import errno, os\n"
        "def f():\n"
        "    fs = os.statvfs('.')\n"
        "    size_mb = fs.f_blocks * fs.f_frsize >> 20\n"
        "    written = 0\n"
        "    try:\n"
        "        for n in range(100):\n"
        "            with open(f'part{n}', 'wb') as part:\n"
        "                part.write(b'x' * (8 << 20))\n"
        "            written += 8\n"
        "    except OSError as exc:\n"
        "        return [written, errno.errorcode[exc.errno], size_mb]\n"
        "    return [written, 'no limit', size_mb]\n"
    )
    outcome = await run(pool, make_dispatch, source, memory_mb=512)
    assert outcome.state is JobState.SUCCEEDED, outcome
    written, error, size_mb = json.loads(outcome.value or "[]")
    assert (error, size_mb) == ("ENOSPC", settings.scratch_mb), outcome
    assert written <= settings.scratch_mb
    # Nothing of it reached the disk: the directory under the tmpfs stays empty.
    assert [list(home.iterdir()) for home in settings.scratch_root.iterdir()] == [[]]


#: keyctl operations and special keyrings (linux/keyctl.h).
_KEYCTL_SEARCH = 10
_KEY_SPEC_USER_KEYRING = -4


def _as_uid(uid: int, action: str) -> int:
    """In a child running as ``uid``: plant a key in its user keyring (``plant``) or look for
    it (``find``); 0 when that worked, the errno otherwise."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            nr = syscall_filter.KEYCTL
            assert nr is not None
            if action == "plant":
                result = libc.syscall(nr - 2, b"user", b"faas-secret", b"tenant A", 8,
                                      _KEY_SPEC_USER_KEYRING)  # fmt: skip  # add_key
            else:
                result = libc.syscall(nr, _KEYCTL_SEARCH, _KEY_SPEC_USER_KEYRING, b"user",
                                      b"faas-secret", 0)  # fmt: skip
            os._exit(0 if result >= 0 else ctypes.get_errno())
        except BaseException:
            os._exit(255)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="add_key is keyctl - 2 on x86_64")
async def test_a_reused_uid_carries_no_keyring_over(
    settings: SpawnSettings, nursery: trio.Nursery, make_dispatch: MakeDispatch
) -> None:
    uid = UID_BASE + 999  # a uid of this test alone
    assert _as_uid(uid, "plant") == 0  # tenant A's secret, as if put there by its function
    assert _as_uid(uid, "find") == 0
    one_uid = dataclasses.replace(settings, uid_base=uid, uid_count=1)
    pool = WarmPool(nursery, one_uid, ttl=60, max_warm=1, init_timeout=5, default_memory_mb=64)
    try:
        outcome = await run(pool, make_dispatch, "import os\ndef f():\n    return os.getuid()\n")
    finally:
        await pool.aclose()
    assert outcome.result == str(uid)  # tenant B got that uid...
    assert _as_uid(uid, "find") != 0  # ...and nothing of A's keyring was left for it


@needs_cgroups
def test_cgroups_left_by_a_killed_worker_are_swept_at_the_next_start() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid no process has now
    first = detect(dead.pid)
    assert first is not None
    left = first.create(64 << 20, 8)  # a sandbox cgroup its worker never removed
    assert all(folder.is_dir() for folder in left.folders)
    second = detect()  # another worker starts
    assert second is not None
    try:
        assert not any(folder.exists() for folder in left.folders)
        assert not first.memory.exists() and not first.pids.exists()
        assert second.memory.is_dir()  # its own, of a live worker, is kept
    finally:
        second.remove()
