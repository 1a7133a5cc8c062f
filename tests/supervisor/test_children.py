"""One supervised child: output prefixing, restart with backoff, stopping, dying with us."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import trio

from faas_trio.supervisor.children import SUPERVISOR_PID_VAR, Child, RestartDelays

from .conftest import (
    CRASHER,
    SLEEPER,
    STUBBORN,
    Lines,
    poll_until,
    process_gone,
    reaped,
    script,
    wait_gone,
)


def make_child(argv: tuple[str, ...], lines: Lines, *, grace: float = 0.5) -> Child:
    return Child(
        "dummy.1",
        argv,
        {"PATH": os.environ.get("PATH", "")},
        backoff=RestartDelays(0.01, 0.04, stable_after=30.0),
        grace=grace,
        emit=lines,
    )


def test_backoff_doubles_up_to_the_maximum() -> None:
    backoff = RestartDelays(0.5, 10.0, stable_after=30.0)
    delays = [backoff.delay_after(uptime=1.0) for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_backoff_starts_over_after_a_stable_run() -> None:
    backoff = RestartDelays(0.5, 10.0, stable_after=30.0)
    for _ in range(4):
        backoff.delay_after(uptime=1.0)
    assert backoff.delay_after(uptime=29.9) == 8.0
    assert backoff.delay_after(uptime=30.0) == 0.5
    assert backoff.delay_after(uptime=0.1) == 1.0


async def test_output_is_prefixed_line_by_line(lines: Lines) -> None:
    # The last line has no newline: it is printed when the child exits.
    code = "import sys; print('one'); print('two', file=sys.stderr); sys.stdout.write('three')"
    child = make_child(script(code), lines)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await lines.wait_for(lambda line: line == "dummy.1 | three")
            nursery.cancel_scope.cancel()
    assert sorted(lines.lines[:3]) == ["dummy.1 | one", "dummy.1 | three", "dummy.1 | two"]


async def test_a_crashing_child_is_restarted_with_backoff(
    lines: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="faas.supervisor")
    child = make_child(CRASHER, lines)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await lines.wait_for(lambda line: line == "dummy.1 | boom", count=5)
            nursery.cancel_scope.cancel()
    assert child.restarts >= 4
    restarts = [r.getMessage() for r in caplog.records if "restart" in r.getMessage()]
    assert all("exited with code 3" in message for message in restarts)
    assert [message.rsplit(" in ", 1)[1] for message in restarts[:4]] == [
        "0.01 s", "0.02 s", "0.04 s", "0.04 s"
    ]


async def test_a_missing_executable_is_retried_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="faas.supervisor")
    child = make_child(("/nonexistent/faas-role",), Lines())
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await poll_until(lambda: child.restarts >= 2)
            nursery.cancel_scope.cancel()
    assert any("could not be started" in r.getMessage() for r in caplog.records)


async def test_cancel_stops_and_reaps_the_child_before_returning(lines: Lines) -> None:
    child = make_child(SLEEPER, lines)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await lines.wait_for(lambda line: "ready" in line)
            pid = child.pid
            assert pid is not None
            nursery.cancel_scope.cancel()
    # Reaped, not a zombie: the pid is gone from /proc entirely.
    assert reaped(pid)
    assert child.restarts == 0


async def test_a_child_ignoring_sigterm_is_killed_with_its_group(
    lines: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="faas.supervisor")
    child = make_child(STUBBORN, lines, grace=0.2)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            [line] = await lines.wait_for(lambda line: "stubborn" in line)
            grandchild = int(line.split()[-1])
            pid = child.pid
            nursery.cancel_scope.cancel()
    assert pid is not None and reaped(pid)
    # SIGKILL went to the whole group; the kernel finishes killing the grandchild on its own.
    with trio.fail_after(5):
        await wait_gone(grandchild)
    messages = [r.getMessage() for r in caplog.records]
    assert "dummy.1 did not stop within 0.2 s; killing it" in messages
    assert "dummy.1 stopped: was killed by SIGKILL" in messages


async def test_retire_returns_once_the_child_is_gone(lines: Lines) -> None:
    child = make_child(STUBBORN, lines, grace=10.0)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await lines.wait_for(lambda line: "stubborn" in line)
            pid = child.pid
            child.retire(grace=0.1)
    # run() returned by itself: the nursery closed without being cancelled.
    assert pid is not None and reaped(pid)


async def test_hurry_shortens_a_stop_under_way(lines: Lines) -> None:
    child = make_child(STUBBORN, lines)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await lines.wait_for(lambda line: "stubborn" in line)
            child.retire(grace=3600.0)
            await trio.sleep(0.05)
            child.hurry(trio.current_time())
    assert child.pid is None


def test_die_with_parent_kills_the_child_when_its_parent_is_killed() -> None:
    # A stand-in supervisor starts a child that calls die_with_parent, then is SIGKILLed.
    child_code = (
        "from faas_trio.supervisor.children import die_with_parent\n"
        "import os, time\n"
        "die_with_parent()\n"
        f"assert {SUPERVISOR_PID_VAR!r} not in os.environ\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(100)\n"
    )
    parent_code = (
        "import os, subprocess, sys, time\n"
        f"env = dict(os.environ, {SUPERVISOR_PID_VAR}=str(os.getpid()))\n"
        f"subprocess.Popen([sys.executable, '-c', {child_code!r}], env=env)\n"
        "time.sleep(100)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert not process_gone(child_pid)
    finally:
        parent.kill()
        parent.wait()
    trio.run(_wait_gone_bounded, child_pid)


async def _wait_gone_bounded(pid: int) -> None:
    with trio.fail_after(10):
        await wait_gone(pid)


def test_die_with_parent_exits_when_the_supervisor_is_already_gone() -> None:
    code = "from faas_trio.supervisor.children import die_with_parent; die_with_parent()"
    env = dict(os.environ, **{SUPERVISOR_PID_VAR: "1"})
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "the supervisor (pid 1) is gone" in done.stderr


def test_die_with_parent_does_nothing_unsupervised() -> None:
    code = "from faas_trio.supervisor.children import die_with_parent; die_with_parent()"
    env = {k: v for k, v in os.environ.items() if k != SUPERVISOR_PID_VAR}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=30)
    assert done.returncode == 0
