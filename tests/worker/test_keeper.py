"""The keeper against a runner that tries to slip out of it: a ptrace stop is not an exit, and
nothing of a sandbox outlives its call or keeps its uid."""

from __future__ import annotations

import os
import signal

import pytest
import trio

from faas_trio.core.records import JobState
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox import confine

from .conftest import MakeDispatch, needs_root, processes_of_uid

#: PTRACE_TRACEME (the keeper becomes its tracer), no parent-death signal, then a stop the
#: keeper sees in waitpid, then a run well past the call's timeout, deaf to its alarm.
TRACEME_ATTACK = """import ctypes, os, signal, time
def f():
    libc = ctypes.CDLL(None, use_errno=True)
    traced = libc.ptrace(0, 0, None, None)
    libc.prctl(1, 0, 0, 0, 0)
    os.write(2, f'{os.getuid()} {traced}\\n'.encode())
    os.kill(os.getpid(), signal.SIGSTOP)
    for ignored in (signal.SIGALRM, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(ignored, signal.SIG_IGN)
    for _ in range(30):
        time.sleep(1)
    return 'outlived'
"""


def test_a_ptrace_stop_is_not_an_end() -> None:
    """Below any seccomp filter: the keeper's own wait loop ends a traced, stopped runner."""
    runner = os.fork()
    if runner == 0:  # pragma: no cover - the child
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace(0, 0, None, None)
        os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(0)
    status = confine.wait_for_runner(runner)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with pytest.raises(ChildProcessError):
        os.waitpid(runner, os.WNOHANG)


@needs_root
async def test_traceme_attack_ends_with_its_call(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    dispatch = make_dispatch(TRACEME_ATTACK, timeout=1.0)
    with trio.fail_after(10):
        outcome = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert outcome.state in (JobState.FAILED, JobState.TIMEOUT), outcome
    assert outcome.result != "outlived"
    uid = int(outcome.logs.split()[0])
    assert processes_of_uid(uid) == []
    # The uid is free, and the next sandbox given it can fork as usual.
    fork = make_dispatch("import os\ndef f():\n    os.wait4(os.fork() or os._exit(0), 0)\n"
                         "    return os.getuid()\n")  # fmt: skip
    nxt = await run_job(pool, fork, log_cap=4096, result_cap=1 << 20)
    assert (nxt.state, nxt.result) == (JobState.SUCCEEDED, str(uid)), nxt
