"""Starting a runner child: the one place that decides its argv, environment and limits.

Later hardening (separate users, seccomp, cgroups, a zygote) changes this module only.

The child is spawned with :class:`subprocess.Popen` from the calling (trio) thread rather than
with :func:`trio.lowlevel.open_process`: the latter forks from a worker thread, and the Python
runner's ``PR_SET_PDEATHSIG`` fires when the *thread* that forked it exits, which trio's thread
cache does after a few idle seconds, killing warm children. A fork costs about a millisecond.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...core.messages import Runtime

__all__ = ["Command", "SpawnFailed", "SpawnSettings", "Spawned", "build_command", "spawn_runner"]

_RUNNER_DIR = Path(__file__).resolve().parent
#: The PATH a child sees.
_PATH = "/usr/local/bin:/usr/bin:/bin"


class SpawnFailed(Exception):
    """The runner could not be started (interpreter missing, fork failed…)."""


@dataclass(frozen=True)
class SpawnSettings:
    """What spawning a runner needs from the worker's configuration."""

    #: Absolute path of the interpreter for Python runners.
    python: str
    #: Absolute path of ``node``, or None when Node.js is not installed.
    node: str | None
    #: Where scratch directories are made.
    scratch_root: Path
    #: Bytes of output kept per call.
    log_cap: int


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]


def build_command(runtime: Runtime, memory_mb: int, settings: SpawnSettings, home: Path) -> Command:
    """The argv and environment of a runner child: a minimal environment whose HOME is
    ``home``; the Python runner gets its limits as arguments and sets them itself.

    Raises:
        SpawnFailed: the runtime's interpreter is not available.
    """
    env = {"PATH": _PATH, "LANG": "C.UTF-8", "HOME": str(home)}
    if runtime is Runtime.PYTHON:
        argv = [
            settings.python, "-I", "-S", "-B", str(_RUNNER_DIR / "python_runner.py"),
            "--memory-mb", str(memory_mb),
            "--log-cap", str(settings.log_cap),
            "--parent", str(os.getpid()),
        ]  # fmt: skip
        return Command(argv, env)
    if settings.node is None:
        raise SpawnFailed("the node runtime is not installed on this worker")
    argv = [
        settings.node,
        f"--max-old-space-size={max(memory_mb, 16)}",
        str(_RUNNER_DIR / "node_runner.js"),
        str(settings.log_cap),
    ]
    return Command(argv, env)


@dataclass(frozen=True)
class Spawned:
    """A just-started child and the worker's ends of its pipes (owned by the caller)."""

    popen: subprocess.Popen[bytes]
    stdin_fd: int
    stdout_fd: int
    #: Non-blocking.
    stderr_fd: int
    #: Its scratch directory (cwd and HOME), to remove when it ends.
    home: Path


def spawn_runner(runtime: Runtime, memory_mb: int, settings: SpawnSettings) -> Spawned:
    """Start a runner in a new session (its own process group) in a fresh scratch directory.

    Raises:
        SpawnFailed: nothing is left behind (no process, pipe or directory).
    """
    settings.scratch_root.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="sbx-", dir=settings.scratch_root))
    pipes: list[int] = []
    try:
        command = build_command(runtime, memory_mb, settings, home)
        for _ in range(3):
            pipes.extend(os.pipe())
        stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w = pipes
        popen = subprocess.Popen(
            command.argv,
            stdin=stdin_r,
            stdout=stdout_w,
            stderr=stderr_w,
            cwd=home,
            env=command.env,
            start_new_session=True,
            close_fds=True,
        )
    except (OSError, SpawnFailed) as exc:
        for fd in pipes:
            os.close(fd)
        shutil.rmtree(home, ignore_errors=True)
        raise SpawnFailed(f"cannot start the {runtime.value} runner: {exc}") from exc
    for fd in (stdin_r, stdout_w, stderr_w):
        os.close(fd)
    os.set_blocking(stderr_r, False)
    return Spawned(popen, stdin_w, stdout_r, stderr_r, home)
