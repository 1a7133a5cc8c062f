"""Starting a runner child: the one place that decides its argv, environment and limits.

Every child is forked by the worker's zygote (:mod:`.zygote`, driven through
:class:`.zygote_client.Zygote`), a clean interpreter started once, and becomes a sandbox's
*keeper* holding the runner (:mod:`.confine`). When the worker runs as root (as it must in
production), the runner runs under its own claimed uid (:mod:`.uids`), in fresh network, PID
and IPC namespaces, with Landlock limiting it to the system's read-only files and its scratch
directory (owned by that uid, mode 0700, removed when the sandbox ends). Without root none of
that is possible: the runner has only its resource limits, minimal environment and
parent-death signal, and a warning is logged once.

The worker makes the child's pipes, scratch directory and uid claim here and passes them in
the request; the zygote answers with the child's pid and a pidfd, so the worker can wait for
and signal a process it is not the parent of.

The zygote is started with :class:`subprocess.Popen` from the calling (trio) thread rather
than with :func:`trio.lowlevel.open_process`: the latter forks from a worker thread, and the
zygote's ``PR_SET_PDEATHSIG`` fires when the *thread* that forked it exits, which trio's
thread cache does after a few idle seconds, killing it and every sandbox with it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.records import Runtime
from .uids import UidClaim, UidsExhausted, claim_uid, default_lock_dir
from .zygote_client import Zygote, ZygoteFailed

__all__ = ["SpawnFailed", "SpawnSettings", "Spawned", "build_request", "spawn_runner"]

log = logging.getLogger("faas.worker.sandbox")

_RUNNER_DIR = Path(__file__).resolve().parent
#: Where runner scripts are copied for sandbox uids to read (root-owned, mode 0755).
_SHARED_RUNNER_DIR = "/run/faas-trio-runners"
#: The PATH a child sees.
_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Address space Node needs on top of the function's memory: V8 reserves much more than it
#: uses (it does not start with less than about 800 MB).
_NODE_BASE_MEMORY_MB = 1024


class SpawnFailed(Exception):
    """The runner could not be started (interpreter missing, fork failed…)."""


@dataclass(frozen=True)
class SpawnSettings:
    """What spawning a runner needs from the worker's configuration."""

    #: Absolute path of the interpreter that runs the zygote, and so the Python runners.
    python: str
    #: Absolute path of ``node``, or None when Node.js is not installed.
    node: str | None
    #: Where scratch directories are made.
    scratch_root: Path
    #: Bytes of output kept per call.
    log_cap: int
    #: Sandboxes run as uids ``[uid_base, uid_base + uid_count)``, one each.
    uid_base: int = 61000
    uid_count: int = 1000
    #: Processes (and threads) a sandbox may have at once.
    nproc: int = 64
    #: Where uid claims are kept (see :mod:`.uids`); None for the default.
    uid_lock_dir: Path | None = None

    @property
    def confined(self) -> bool:
        """Whether runners are confined (only root can switch uids and make namespaces)."""
        return os.geteuid() == 0


def build_request(
    runtime: Runtime,
    memory_mb: int,
    settings: SpawnSettings,
    home: Path,
    uid: int | None = None,
    *,
    variables: Mapping[str, str] | None = None,
    readable: Sequence[str] = (),
) -> dict[str, Any]:
    """The zygote's spawn request for a runner (see :mod:`.zygote`): a minimal environment
    whose HOME and TMPDIR are ``home``, plus the function's ``variables`` (its env and
    secrets; they never replace those four); the Python runner gets its limits as arguments
    and sets them itself. With a ``uid`` the runner is confined, runs as that uid, and may
    read the ``readable`` paths (a package environment) besides the system's.

    Raises:
        SpawnFailed: the runtime's interpreter is not available.
    """
    env = dict(variables or {})
    env.update({"PATH": _PATH, "LANG": "C.UTF-8", "HOME": str(home), "TMPDIR": str(home)})
    confine: dict[str, Any] | None = None
    if uid is not None:
        confine = {
            "uid": uid, "nproc": settings.nproc, "read": list(readable), "address_space_mb": None,
        }  # fmt: skip
    if runtime is Runtime.PYTHON:
        argv = ["--memory-mb", str(memory_mb), "--log-cap", str(settings.log_cap)]
    else:
        if settings.node is None:
            raise SpawnFailed("the node runtime is not installed on this worker")
        script = str(_RUNNER_DIR / "node_runner.js") if uid is None else _shared_node_runner()
        argv = [
            settings.node, f"--max-old-space-size={max(memory_mb, 16)}", script,
            str(settings.log_cap),
        ]  # fmt: skip
        if confine is not None:
            confine["read"] = [script, settings.node]
            confine["address_space_mb"] = memory_mb + _NODE_BASE_MEMORY_MB
    return {
        "runtime": runtime.value,
        "argv": argv,
        "env": env,
        "home": str(home),
        "confine": confine,
    }


@functools.cache
def _shared_node_runner() -> str:
    """A copy of ``node_runner.js`` that any sandbox uid can read: the package may live where
    only root can (a checkout under ``/root``). The Python runner needs none: the zygote
    compiles it while still root. Named by content, so workers of other versions never share
    one."""
    source = (_RUNNER_DIR / "node_runner.js").read_bytes()
    folder = Path(_SHARED_RUNNER_DIR)
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    target = folder / f"node_runner-{hashlib.sha256(source).hexdigest()[:16]}.js"
    if not target.exists():
        temporary = folder / f".{target.name}.{os.getpid()}"
        temporary.write_bytes(source)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    return str(target)


@dataclass(frozen=True)
class Spawned:
    """A just-started child and the worker's ends of its pipes (all owned by the caller)."""

    #: The keeper's pid (the worker is not its parent: the zygote reaps it).
    pid: int
    #: A pidfd for the keeper: readable once it has exited.
    pidfd: int
    #: Read end of the pipe where the keeper writes the runner's wait status as it exits
    #: (see :mod:`.confine`). Non-blocking.
    status_fd: int
    stdin_fd: int
    stdout_fd: int
    #: Non-blocking.
    stderr_fd: int
    #: Its scratch directory (cwd and HOME), to remove when it ends.
    home: Path
    #: The uid it runs as, to release once it has exited; None when not confined.
    uid: UidClaim | None


def _claim(settings: SpawnSettings) -> UidClaim | None:
    if not settings.confined:
        return None
    lock_dir = settings.uid_lock_dir or default_lock_dir()
    try:
        return claim_uid(settings.uid_base, settings.uid_count, lock_dir)
    except (UidsExhausted, OSError) as exc:
        raise SpawnFailed(f"no sandbox uid: {exc}") from exc


async def spawn_runner(
    runtime: Runtime,
    memory_mb: int,
    settings: SpawnSettings,
    zygote: Zygote,
    *,
    variables: Mapping[str, str] | None = None,
    readable: Sequence[str] = (),
) -> Spawned:
    """Start a runner through ``zygote``, in a new session (its own process group) in a fresh
    scratch directory, confined when possible (see the module docstring).

    Raises:
        SpawnFailed: nothing is left behind (no process, pipe, directory or uid claim).

    Cancellation: the same guarantee: either the child is returned, or nothing is left (see
    :meth:`.Zygote.spawn`; a cancel seen after the child started propagates from the
    caller's next checkpoint, and the caller kills the child).
    """
    settings.scratch_root.mkdir(parents=True, exist_ok=True)
    uid = _claim(settings)
    home = Path(tempfile.mkdtemp(prefix="sbx-", dir=settings.scratch_root))
    pipes: list[int] = []
    try:
        if uid is not None:
            # Sandbox uids must be able to reach their own directory, and list no other.
            os.chmod(settings.scratch_root, 0o711)
            os.chown(home, uid.uid, uid.uid)
        request = build_request(
            runtime, memory_mb, settings, home, None if uid is None else uid.uid,
            variables=variables, readable=readable,
        )  # fmt: skip
        for _ in range(4):
            pipes.extend(os.pipe())
        stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w, status_r, status_w = pipes
        pid, pidfd = await zygote.spawn(request, [stdin_r, stdout_w, stderr_w, status_w])
    except BaseException as exc:
        for fd in pipes:
            os.close(fd)
        shutil.rmtree(home, ignore_errors=True)
        if uid is not None:
            uid.release()
        if isinstance(exc, OSError | SpawnFailed | ZygoteFailed):
            raise SpawnFailed(f"cannot start the {runtime.value} runner: {exc}") from exc
        raise
    for fd in (stdin_r, stdout_w, stderr_w, status_w):
        os.close(fd)
    os.set_blocking(stderr_r, False)
    os.set_blocking(status_r, False)
    return Spawned(pid, pidfd, status_r, stdin_w, stdout_r, stderr_r, home, uid)
