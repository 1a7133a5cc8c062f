"""``run_component``: the exit codes and stop order every component's process shares."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import trio

# A component whose start-up and stop are visible on stdout; the mode comes from argv.
COMPONENT = textwrap.dedent(
    """
    import sys, trio
    from faas_trio.core.config import ConfigError
    from faas_trio.core.lifecycle import run_component

    from faas_trio.core.errors import InternalError

    mode = sys.argv[1]

    async def _fails_inside_a_nested_nursery():
        raise InternalError("the store answered nonsense")

    def from_env():
        if mode == "bad-setting":
            raise ConfigError("FAAS_THING='x' is not a number")
        return mode

    async def serve(config, *, task_status=trio.TASK_STATUS_IGNORED):
        if config == "cannot-bind":
            raise OSError("cannot bind tcp://127.0.0.1:1: address in use")
        if config == "task-fails":
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_fails_inside_a_nested_nursery)
        if config == "slow-start":
            print("starting", flush=True)
            await trio.sleep(30)
        task_status.started("the-handle")
        print("serving", flush=True)
        if config == "returns":
            return
        try:
            await trio.sleep_forever()
        finally:
            print("cleaned up", flush=True)

    async def before_stop(handle):
        print("before stop:", handle, flush=True)

    run_component("thing", from_env, serve, before_stop=before_stop)
    print("exited cleanly", flush=True)
    """
)


def start(mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", COMPONENT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_for_line(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    with trio.fail_after(20):
        got = await trio.to_thread.run_sync(proc.stdout.readline)
    assert got.strip() == line


async def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    with trio.fail_after(20):
        out, err = await trio.to_thread.run_sync(proc.communicate)
    return proc.returncode, out, err


async def test_a_signal_stops_it_after_before_stop_and_cleanup_with_code_0() -> None:
    proc = start("normal")
    await wait_for_line(proc, "serving")
    proc.send_signal(signal.SIGTERM)
    code, out, err = await finish(proc)
    assert code == 0, err
    assert out.splitlines() == ["before stop: the-handle", "cleaned up", "exited cleanly"]
    assert "SIGTERM received, stopping" in err


async def test_a_signal_during_start_up_is_not_lost() -> None:
    proc = start("slow-start")
    await wait_for_line(proc, "starting")
    proc.send_signal(signal.SIGINT)
    code, out, err = await finish(proc)
    assert code == 0, err
    # nothing had started, so there was nothing to hand to before_stop
    assert out.splitlines() == ["exited cleanly"]


async def test_a_serve_that_returns_by_itself_ends_the_process() -> None:
    code, out, err = await finish(start("returns"))
    assert code == 0, err
    assert out.splitlines() == ["serving", "exited cleanly"]


async def test_a_malformed_setting_exits_2_naming_it() -> None:
    code, out, err = await finish(start("bad-setting"))
    assert code == 2
    assert "FAAS_THING='x' is not a number" in err and "Traceback" not in err


async def test_a_component_that_cannot_run_exits_1_saying_why() -> None:
    code, out, err = await finish(start("cannot-bind"))
    assert code == 1
    assert "thing cannot run: cannot bind" in err and "Traceback" not in err


async def test_a_task_that_fails_is_logged_with_its_traceback() -> None:
    code, out, err = await finish(start("task-fails"))
    assert code == 1
    # The leaf of the nested groups, not "Exceptions from Trio nursery", and where it came from.
    assert "thing cannot run: the store answered nonsense" in err
    assert "Traceback" in err and "_fails_inside_a_nested_nursery" in err


def test_end_process_runs_exit_handlers_and_flushes_output_without_teardown() -> None:
    # What ``faas-trio <role>`` does once its component stopped. An object's finaliser shows
    # that the interpreter was not torn down (it would run at teardown).
    code = textwrap.dedent(
        """
        import atexit, logging, sys
        from faas_trio.core.lifecycle import end_process

        class Kept:
            def __del__(self):
                print("torn down", flush=True)

        kept = Kept()
        logging.basicConfig(stream=sys.stderr)
        atexit.register(print, "exit handler ran")
        logging.getLogger("x").warning("logged")
        sys.stdout.write("unflushed")
        end_process(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["unflushedexit handler ran"]
    assert "logged" in done.stderr
