"""Dummy children for supervisor tests: short Python scripts standing in for the roles."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from faas_trio.supervisor.config import ROLES, SupervisorConfig


def script(code: str) -> tuple[str, ...]:
    """A command that runs ``code`` in a fresh Python."""
    return (sys.executable, "-c", code)


#: Prints its role's variables, then sleeps; dies on SIGTERM.
SLEEPER = script(
    "import os, time\n"
    "print('ready', os.getpid(), os.environ.get('PORT'), os.environ.get('DB_URL'),"
    " os.environ.get('JQ_URL'), flush=True)\n"
    "time.sleep(100)\n"
)

#: Ignores SIGTERM, starts a grandchild in its process group, then sleeps.
STUBBORN = script(
    "import signal, subprocess, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "grandchild = subprocess.Popen(['sleep', '100'])\n"
    "print('stubborn', grandchild.pid, flush=True)\n"
    "time.sleep(100)\n"
)

#: Says something, then exits with code 3 at once.
CRASHER = script("print('boom', flush=True); raise SystemExit(3)")


class Lines:
    """An ``Emit`` that keeps every line and lets a test wait for one."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = trio.Event()

    def __call__(self, batch: list[str]) -> None:
        self.lines.extend(batch)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[str], bool], count: int = 1) -> list[str]:
        """Wait until ``count`` lines match ``predicate``; return them.

        Cancellation: stops waiting; nothing to clean up.
        """
        while True:
            found = [line for line in self.lines if predicate(line)]
            if len(found) >= count:
                return found[:count]
            await self._changed.wait()


@pytest.fixture
def lines() -> Lines:
    return Lines()


@pytest.fixture
def dummy_config(tmp_path: Path) -> Callable[..., SupervisorConfig]:
    """Build a config whose roles all run ``SLEEPER`` unless overridden per role."""

    def build(**overrides: object) -> SupervisorConfig:
        commands: dict[str, object] = {role: SLEEPER for role in ROLES}
        commands.update(overrides.pop("commands", {}))  # type: ignore[call-overload]
        settings: dict[str, object] = {
            "home": tmp_path / "home",
            "http_port": 1,  # nothing answers there, so /healthz is never ready
            "base_env": {"PATH": os.environ.get("PATH", ""), "PORT": "999", "KEEP": "me"},
            "restart_delay": 0.01,
            "restart_max_delay": 0.04,
            "shutdown_grace": 0.5,
            "drain_timeout": 0.0,
            "commands": commands,
        }
        settings.update(overrides)
        return SupervisorConfig(**settings)  # type: ignore[arg-type]

    return build


def process_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (absent, or a zombie waiting for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def reaped(pid: int) -> bool:
    """Whether ``pid`` has been reaped (not even a zombie is left)."""
    return not Path(f"/proc/{pid}").exists()


async def poll_until(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds (callers bound this with ``fail_after``).

    Cancellation: stops waiting; nothing to clean up.
    """
    # Polling: the process table and the tree's counters have no event to wait on.
    while not predicate():  # noqa: ASYNC110
        await trio.sleep(0.01)


async def wait_gone(pid: int) -> None:
    """Wait until ``pid`` is gone (callers bound this with ``fail_after``).

    Cancellation: stops waiting; nothing to clean up.
    """
    await poll_until(lambda: process_gone(pid))
