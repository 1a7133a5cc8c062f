"""The processes the kit starts: the baseline app and a whole platform (``faas_trio up``).

Both are async context managers that yield the URL to load once it answers, and on the way
out stop the process with SIGTERM, wait up to a grace period (shielded, so a cancel cannot
skip it) and SIGKILL it if it is still there. Also here: reading a process's resident memory
and finding the platform's jqmanager among its descendants, through ``/proc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from .ports import free_ports

__all__ = [
    "RAISED_LIMITS",
    "LaunchError",
    "Platform",
    "descendants",
    "find_jqmanager_pid",
    "free_ports",
    "running_baseline",
    "running_platform",
    "vm_rss_bytes",
]

#: The settings of every platform the kit starts: queue and call-rate limits high enough that
#: no load is refused for being too much.
RAISED_LIMITS = {
    "FAAS_USER_MAX_ACTIVE": "1000000",
    "FAAS_MAX_QUEUE": "1000000",
    "FAAS_USER_RATE": "1000000000",
}
#: The repository root: the working directory of the baseline app, so ``load`` imports.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Longest wait for a started process to answer HTTP.
START_TIMEOUT = 60.0
#: Time a process gets between SIGTERM and SIGKILL.
STOP_GRACE = 10.0


class LaunchError(RuntimeError):
    """A process the kit started exited or did not answer in time; the message says which."""


@dataclass(frozen=True)
class Platform:
    """A platform the kit started: its URL and the pid of the ``faas_trio up`` supervisor."""

    url: str
    pid: int
    home: Path


async def _stop(process: trio.Process, grace: float) -> None:
    """SIGTERM, wait up to ``grace`` s, then SIGKILL and reap. Shielded and bounded."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace):
                await process.wait()
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(grace):
                await process.wait()


async def _read_line(stream: trio.abc.ReceiveStream) -> str:
    buffer = b""
    while b"\n" not in buffer:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        buffer += chunk
    return buffer.split(b"\n", 1)[0].decode().strip()


@asynccontextmanager
async def running_baseline() -> AsyncIterator[str]:
    """Start ``python -m load.baseline_app`` on a free port and yield its URL.

    Raises:
        LaunchError: the app did not print its URL within ``START_TIMEOUT``.

    Cancellation: blocks while the app starts; the app is stopped (shielded, bounded by
    ``STOP_GRACE``) before the cancel propagates.
    """
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "load.baseline_app"],
        stdout=subprocess.PIPE,
        cwd=str(REPO_ROOT),
    )
    try:
        assert process.stdout is not None
        with trio.move_on_after(START_TIMEOUT):
            url = await _read_line(process.stdout)
        if not url.startswith("http://"):
            raise LaunchError(f"the baseline app did not start (it printed {url!r})")
        yield url
    finally:
        await _stop(process, STOP_GRACE)


async def wait_healthy(url: str, process: trio.Process, log: Path) -> None:
    """Poll ``url``/healthz every 0.1 s until it answers 200.

    Raises:
        LaunchError: the process exited, or ``START_TIMEOUT`` passed; the message ends with
            the tail of ``log``.

    Cancellation: blocks between polls; nothing to undo.
    """
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        with trio.move_on_after(START_TIMEOUT):
            while process.returncode is None:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await trio.sleep(0.1)
    tail = _tail(log)
    state = "exited" if process.returncode is not None else "did not answer /healthz"
    raise LaunchError(f"the platform {state}; end of {log}:\n{tail}")


def _tail(log: Path, size: int = 2000) -> str:
    """The last ``size`` characters of ``log`` (empty when it does not exist)."""
    return log.read_text(errors="replace")[-size:] if log.exists() else ""


@asynccontextmanager
async def running_platform(
    home: Path, log: Path, settings: Mapping[str, str]
) -> AsyncIterator[Platform]:
    """Start ``python -m faas_trio up`` on free ports with state in ``home``, the environment
    plus ``settings`` (``FAAS_*`` variables), its output going to ``log``; yield it once
    ``/healthz`` answers.

    Raises:
        LaunchError: see :func:`wait_healthy`.

    Cancellation: blocks while the platform starts; the supervisor gets SIGTERM (shielded,
    bounded by ``STOP_GRACE``, then SIGKILL) before the cancel propagates.
    """
    http_port, db_port, jq_port = free_ports(3)
    env = {"FAAS_LOG_LEVEL": "WARNING", **os.environ, **settings}
    env.update(
        PORT=str(http_port),
        FAAS_HOME=str(home),
        FAAS_DB_PORT=str(db_port),
        FAAS_JQ_PORT=str(jq_port),
    )
    url = f"http://127.0.0.1:{http_port}"
    with log.open("ab") as log_file:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "faas_trio", "up"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        await wait_healthy(url, process, log)
        yield Platform(url=url, pid=process.pid, home=home)
    finally:
        await _stop(process, STOP_GRACE)


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """Pids of every live process below ``root`` in the process tree (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_pid(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def find_jqmanager_pid(root: int | None = None) -> int | None:
    """The pid of the process whose command line holds ``faas_trio jqmanager``, looking only
    below ``root`` when given; None when there is none."""
    candidates = (
        descendants(root)
        if root is not None
        else {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    )
    for pid in sorted(candidates):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"faas_trio jqmanager" in b" ".join(argv):
            return pid
    return None


def vm_rss_bytes(pid: int) -> int | None:
    """The resident memory of ``pid`` (``VmRSS`` in ``/proc/<pid>/status``), or None when the
    process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
