"""The seccomp filter: the refused families are refused inside a real sandbox, ordinary work
(threads, subprocesses) still runs, and both runtimes' runners are held to it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faas_trio.core.records import JobState, Runtime
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox import syscall_filter

from .conftest import MakeDispatch, children_of, needs_node, needs_root, sandbox_pids

pytestmark = needs_root

_NR = syscall_filter._ARCHES["x86_64"][1]  # the numbers the probe below uses
_CLONE_NEWUSER = 0x10000000

#: (what, call as ctypes on ``libc.syscall``, errno expected): the probe reports the errno.
REFUSED = [
    ("ptrace", f"{_NR['ptrace']}, 0, 0, 0, 0", "EPERM"),
    ("process_vm_readv", f"{_NR['process_vm_readv']}, 1, 0, 0, 0, 0, 0", "EPERM"),
    ("keyctl", f"{_NR['keyctl']}, 0, -4, 0", "EPERM"),
    ("add_key", f"{_NR['add_key']}, b'user', b'secret', b'x', 1, -4", "EPERM"),
    ("bpf", f"{_NR['bpf']}, 0, 0, 0", "EPERM"),
    ("perf_event_open", f"{_NR['perf_event_open']}, 0, 0, -1, -1, 0", "EPERM"),
    ("userfaultfd", f"{_NR['userfaultfd']}, 0", "EPERM"),
    ("io_uring_setup", "425, 8, 0", "ENOSYS"),
    ("mount", f"{_NR['mount']}, b'none', b'/tmp', b'tmpfs', 0, 0", "EPERM"),
    ("chroot", f"{_NR['chroot']}, b'/'", "EPERM"),
    ("unshare", f"{_NR['unshare']}, {_CLONE_NEWUSER}", "EPERM"),
    ("setns", f"{_NR['setns']}, 0, 0", "EPERM"),
    ("clone_newuser", f"56, {_CLONE_NEWUSER | 17}, 0, 0, 0, 0", "EPERM"),
    ("clone3", "435, 0, 0", "ENOSYS"),
    ("personality", f"{_NR['personality']}, 0x0040000", "EPERM"),
    ("clear_pdeathsig", "157, 1, 0, 0, 0, 0", "EPERM"),
    ("kexec_load", f"{_NR['kexec_load']}, 0, 0, 0, 0", "EPERM"),
    ("init_module", f"{_NR['init_module']}, 0, 0, 0", "EPERM"),
    ("reboot", f"{_NR['reboot']}, 0, 0, 0, 0", "EPERM"),
    ("swapon", f"{_NR['swapon']}, b'/x', 0", "EPERM"),
    ("acct", f"{_NR['acct']}, 0", "EPERM"),
]

PROBE = """import ctypes, errno, os, subprocess, threading
def f():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def errname(result):
        return 'allowed' if result >= 0 else errno.errorcode[ctypes.get_errno()]
    seen = {CALLS}
    done = []
    thread = threading.Thread(target=done.append, args=[1])
    thread.start()
    thread.join()
    seen['thread'] = 'ran' if done else 'no'
    seen['subprocess'] = subprocess.run(['echo', 'ok'], capture_output=True).stdout.decode()
    return seen
"""


@pytest.mark.skipif(syscall_filter.FILTER is None or os.uname().machine != "x86_64",
                    reason="the probe's call numbers are x86_64's")  # fmt: skip
async def test_refused_families_are_refused_and_ordinary_work_runs(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    calls = "{" + ", ".join(f"{name!r}: errname(libc.syscall({args}))" for name, args, _ in
                            REFUSED) + "}"  # fmt: skip
    dispatch = make_dispatch(PROBE.replace("{CALLS}", calls))
    outcome = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED, outcome
    seen = json.loads(outcome.value or "{}")
    assert {name: seen[name] for name, _, _ in REFUSED} == {
        name: expected for name, _, expected in REFUSED
    }
    assert (seen["thread"], seen["subprocess"]) == ("ran", "ok\n")


def seccomp_status(pid: int) -> tuple[str, str]:
    status = dict(
        line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return status["Seccomp"].strip(), status["Seccomp_filters"].strip()


@pytest.mark.parametrize("runtime", [Runtime.PYTHON, pytest.param(Runtime.NODE, marks=needs_node)])
async def test_every_runner_is_held_to_the_filter(
    pool: WarmPool, make_dispatch: MakeDispatch, runtime: Runtime
) -> None:
    source = {
        Runtime.PYTHON: "def f():\n    return 1\n",
        Runtime.NODE: "function f() { return 1; }",
    }[runtime]
    outcome = await run_job(
        pool, make_dispatch(source, runtime=runtime), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.SUCCEEDED, outcome
    runners = [child for keeper in sandbox_pids() for child in children_of(keeper)]
    assert runners
    assert {seccomp_status(pid) for pid in runners} == {("2", "1")}
