"""Starting a runner child: the one place that decides its argv, environment and limits.

Every child is forked by the worker's zygote (:mod:`.zygote`, driven through
:class:`.zygote_client.Zygote`), a clean interpreter started once, and becomes a sandbox's
*keeper* holding the runner (:mod:`.confine`). As root, the runner runs under its own claimed
uid (:mod:`.uids`); rootless, in a user namespace mapping only the worker's uid. Either way in
fresh network, PID, IPC and mount namespaces, with a size-capped tmpfs on its scratch
directory, Landlock limiting it to the system's read-only files and that directory, the
seccomp filter, and its own memory and pids cgroup where the worker has cgroups
(:mod:`.cgroups`; rlimits otherwise). ``FAAS_SANDBOX=off`` (mode ``off``) gives none of that:
the runner has only its resource limits, minimal environment and parent-death signal.

The worker makes the child's pipes, scratch directory and uid claim here and passes them in
the request; the zygote answers with the child's pid and a pidfd, so the worker can wait for
and signal a process it is not the parent of.

The zygote is started with :class:`subprocess.Popen` from the calling (trio) thread rather
than with :func:`trio.lowlevel.open_process`: the latter forks from a worker thread, and the
zygote's ``PR_SET_PDEATHSIG`` fires when the *thread* that forked it exits, which trio's
thread cache does after a few idle seconds, killing it and every sandbox with it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...core.records import Runtime
from .cgroups import CgroupRoot, SandboxCgroup
from .protocol import ConfineOptions, SpawnRequest
from .scratch import remove_tree
from .uids import UidClaim, UidsExhausted, claim_uid, default_lock_dir
from .zygote_client import Zygote, ZygoteFailed

__all__ = [
    "DEFAULT_UID_BASE",
    "SpawnFailed",
    "SpawnSettings",
    "Spawned",
    "build_request",
    "spawn_runner",
]

log = logging.getLogger("faas.worker.sandbox")

_RUNNER_DIR = Path(__file__).resolve().parent
#: Where runner scripts are copied for sandbox uids to read (root-owned, mode 0755).
_SHARED_RUNNER_DIR = "/run/faas-trio-runners"
#: The PATH a child sees.
_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Address space Node needs on top of the function's memory: V8 reserves much more than it
#: uses (it does not start with less than about 800 MB).
_NODE_BASE_MEMORY_MB = 1024
#: What node_runner.js needs to keep user code in its realm: import() rejected by a callback
#: of its own (the flag enables such callbacks), and no code compiled from strings anywhere.
_NODE_FLAGS = ("--experimental-vm-modules", "--disallow-code-generation-from-strings")


#: The first sandbox uid by default: ``2000000000`` up, in the range systemd leaves unused
#: (1879048192-2147352575), clear of its DynamicUser range (61184-65519), its container
#: ranges (524288-1879048191), the usual subordinate-uid ranges (from 100000) and ``nobody``.
DEFAULT_UID_BASE = 2_000_000_000
#: What a sandbox's memory cgroup allows on top of the function's ``memory_mb``: room for the
#: interpreter itself (measured resident sizes: Python about 10 MiB, Node about 45 MiB).
_CGROUP_BASE_MB = {Runtime.PYTHON: 32, Runtime.NODE: 96}


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
    uid_base: int = DEFAULT_UID_BASE
    uid_count: int = 1000
    #: Processes (and threads) a sandbox may have at once.
    nproc: int = 64
    #: Where uid claims are kept (see :mod:`.uids`); None for the default.
    uid_lock_dir: Path | None = None
    #: ``root``, ``rootless`` or ``off`` (see :mod:`.isolation`); empty: ``root`` when
    #: running as root, else ``rootless``.
    mode: str = ""
    #: Where sandbox cgroups are made; None: none (rlimits only).
    cgroups: CgroupRoot | None = None
    #: Size of a sandbox's scratch tmpfs, MiB.
    scratch_mb: int = 64

    @property
    def isolation_mode(self) -> str:
        """The mode in force (``mode``, or what running as this user gives)."""
        return self.mode or ("root" if os.geteuid() == 0 else "rootless")

    @property
    def confined(self) -> bool:
        """Whether runners are confined."""
        return self.isolation_mode != "off"


def build_request(
    runtime: Runtime,
    memory_mb: int,
    settings: SpawnSettings,
    home: Path,
    uid: int | None = None,
    cgroup: SandboxCgroup | None = None,
    *,
    variables: Mapping[str, str] | None = None,
    readable: Sequence[str] = (),
) -> SpawnRequest:
    """The zygote's spawn request for a runner (see :mod:`.zygote`): a minimal environment
    whose HOME and TMPDIR are ``home``, plus the function's ``variables`` (its env and
    secrets; they never replace those four); the Python runner gets its limits as arguments
    and sets them itself. With a ``uid`` the runner is confined, and runs as that uid; in
    ``rootless`` mode it is confined as the worker's uid. A confined runner may read the
    ``readable`` paths (a package environment) besides the system's. With a ``cgroup`` it
    joins it, and its pids limit replaces ``RLIMIT_NPROC``.

    Raises:
        SpawnFailed: the runtime's interpreter is not available.
    """
    env = dict(variables or {})
    env.update({"PATH": _PATH, "LANG": "C.UTF-8", "HOME": str(home), "TMPDIR": str(home)})
    confine: ConfineOptions | None = None
    rootless = settings.isolation_mode == "rootless"
    if uid is not None or rootless:
        confine = ConfineOptions(
            uid=os.getuid() if uid is None else uid,
            nproc=None if cgroup is not None else settings.nproc,
            read=tuple(readable),
            scratch_mb=settings.scratch_mb,
            cgroup_procs=() if cgroup is None else tuple(cgroup.procs_files),
            seccomp=True,
            userns=rootless,
        )
    if runtime is Runtime.PYTHON:
        argv = ["--memory-mb", str(memory_mb), "--log-cap", str(settings.log_cap)]
    else:
        if settings.node is None:
            raise SpawnFailed("the node runtime is not installed on this worker")
        script = str(_RUNNER_DIR / "node_runner.js") if uid is None else _shared_node_runner()
        argv = [
            settings.node, *_NODE_FLAGS, f"--max-old-space-size={max(memory_mb, 16)}", script,
            str(settings.log_cap),
        ]  # fmt: skip
        if confine is not None:
            confine = dataclasses.replace(
                confine,
                read=(script, settings.node),
                address_space_mb=memory_mb + _NODE_BASE_MEMORY_MB,
            )
    return SpawnRequest(runtime.value, tuple(argv), env, str(home), confine)


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
    #: The uid it runs as, to release once it has exited; None when it has none of its own.
    uid: UidClaim | None
    #: Its cgroup, to empty and remove once it has exited; None without cgroups.
    cgroup: SandboxCgroup | None = None


def _claim(settings: SpawnSettings) -> UidClaim | None:
    if settings.isolation_mode != "root":
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
    cgroup: SandboxCgroup | None = None
    try:
        if uid is not None:
            # Sandbox uids must be able to reach their own directory, and list no other.
            os.chmod(settings.scratch_root, 0o711)
            os.chown(home, uid.uid, uid.uid)
        if settings.cgroups is not None and settings.confined:
            memory = (memory_mb + _CGROUP_BASE_MB[runtime]) << 20
            cgroup = settings.cgroups.create(memory, settings.nproc)
        request = build_request(
            runtime, memory_mb, settings, home, None if uid is None else uid.uid, cgroup,
            variables=variables, readable=readable,
        )  # fmt: skip
        for _ in range(4):
            pipes.extend(os.pipe())
        stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w, status_r, status_w = pipes
        pid, pidfd = await zygote.spawn(request, [stdin_r, stdout_w, stderr_w, status_w])
    except BaseException as exc:
        for fd in pipes:
            os.close(fd)
        remove_tree(home)  # nothing ran in it: empty
        if cgroup is not None:
            cgroup.kill()
            cgroup.remove()
        if uid is not None:
            uid.release()
        if isinstance(exc, OSError | SpawnFailed | ZygoteFailed):
            raise SpawnFailed(f"cannot start the {runtime.value} runner: {exc}") from exc
        raise
    for fd in (stdin_r, stdout_w, stderr_w, status_w):
        os.close(fd)
    os.set_blocking(stderr_r, False)
    os.set_blocking(status_r, False)
    return Spawned(pid, pidfd, status_r, stdin_w, stdout_r, stderr_r, home, uid, cgroup)
