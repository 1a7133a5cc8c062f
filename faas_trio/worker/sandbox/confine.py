"""What a sandbox is: a *keeper* that holds a *runner* confined, and reports how it ended.

Used by :mod:`.zygote` (and only there: the worker never imports it) in each child it forks,
after that child has taken its pipes, scratch directory and environment:
:func:`become_keeper` turns the process into the sandbox's keeper (waiting), which forks the
runner. When confined, the keeper first unshares fresh network, PID, IPC and mount namespaces
(rootless: inside a new user namespace whose only uid is the worker's), makes every mount
private to them and mounts a size-capped tmpfs on the scratch directory, so the runner is
PID 1 of its namespace: when it dies, the kernel kills every process in the namespace,
including ones that called ``setsid``; its IPC objects (SysV, POSIX queues) and its scratch
files go with the namespaces. The runner, before any user code:

- joins its cgroups (memory and pids, see :mod:`.cgroups`), so all it starts is counted;
- sets file size and open files limits, the address space if given (the Python runner sets
  its own), and ``RLIMIT_NPROC`` when no pids cgroup bounds it;
- restricts the filesystem with Landlock (:mod:`.landlock`);
- drops to its uid and gid with no supplementary groups (rootless: drops every capability),
  joins a fresh session keyring and empties its uid's keyrings, sets ``no_new_privs``;
- asks for SIGKILL when the keeper dies, and checks the keeper is still there;
- installs the seccomp filter (:mod:`.syscall_filter`), which refuses clearing that signal;
- runs what the zygote gives it: the Python runner in this same interpreter (compiled by the
  zygote while still root), or Node executed with the runner script.

Unconfined (``FAAS_SANDBOX=off``) the runner gets none of that, only the parent-death signal,
and when it ends the keeper kills what is left of its process group.

Its network namespace has only a loopback interface that is down: no connection can be made,
to the host's loopback (the frontend, the database) or anywhere else.

The worker is not the keeper's parent (the zygote is), so the keeper writes the runner's wait
status (:data:`STATUS_BYTES` bytes, big-endian) to its status pipe before it exits; it reports
only an exit or a kill, never a stop (:func:`wait_for_runner`). On SIGTERM it kills the runner
and waits until the whole namespace is gone before it reports and exits. If the zygote dies
(it does when the worker dies), the keeper is killed (``PR_SET_PDEATHSIG``), then the runner,
then the namespace. The worker still checks: it releases a sandbox's uid only once no process
runs as it (:mod:`.uids`) and its cgroup is empty.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import landlock, syscall_filter
elif __package__:
    from . import landlock, syscall_filter
else:  # run from the zygote, by path
    import landlock
    import syscall_filter

__all__ = [
    "STATUS_BYTES",
    "Confinement",
    "become_keeper",
    "die_with_parent",
    "wait_for_runner",
]

#: Size of the wait status a keeper reports on its status pipe.
STATUS_BYTES = 4
#: How much nicer than the zygote (and so the worker) a sandbox runs: when tenants' code keeps
#: every CPU busy, the platform's processes (heartbeats, dispatches, commits) still get the CPU
#: first. A sandbox cannot undo it: lowering a nice value needs ``CAP_SYS_NICE``.
SANDBOX_NICE = 10

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
_CAPABILITY_VERSION_3 = 0x20080522
_KEYCTL_JOIN_SESSION_KEYRING = 1
_KEYCTL_CLEAR = 7
_KEY_SPEC_USER_KEYRING = -4
_KEY_SPEC_USER_SESSION_KEYRING = -5
_MAX_FILE_BYTES = 64 * 1024 * 1024
_MAX_OPEN_FILES = 64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def die_with_parent(parent: int) -> None:
    """Ask for SIGKILL when the parent dies; exit now if ``parent`` is no longer the parent
    (it died before the request took effect)."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if os.getppid() != parent:
        os._exit(0)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]


@dataclass(frozen=True)
class Confinement:
    """What a confined runner is held to (see the module docstring)."""

    #: Its uid and gid (rootless: the worker's own, the one uid of its user namespace).
    uid: int
    #: Its scratch directory, the one place it may write.
    home: str
    #: ``RLIMIT_NPROC``, or None when its pids cgroup bounds it instead.
    nproc: int | None
    #: Paths it may read and execute besides the system directories.
    readable: tuple[str, ...] = ()
    #: ``RLIMIT_AS`` in MiB, or None to leave it to the runner.
    address_space_mb: int | None = None
    #: Whether the seccomp filter (:mod:`.syscall_filter`) is installed.
    seccomp: bool = True
    #: Rootless: a user namespace mapping only ``uid`` makes the other namespaces.
    userns: bool = False
    #: Size of the tmpfs mounted on ``home`` in its mount namespace, MiB (None: none).
    scratch_mb: int | None = None
    #: The ``cgroup.procs`` files the runner joins before anything else.
    cgroup_procs: tuple[str, ...] = ()


def become_keeper(
    run: Callable[[], object], confinement: Confinement | None, status_fd: int
) -> NoReturn:
    """Fork the runner, which confines itself (if ``confinement``) and calls ``run``; stay as
    its keeper until it ends, write its wait status to ``status_fd``, exit.

    Called in a fresh child of the zygote whose fds 0-2 are the runner's pipes, whose cwd is
    its scratch directory and whose environment is the runner's. Never returns: failures to
    set up are written to stderr and reported as exit code 71 (70 when ``run`` raised).
    """
    try:
        if confinement is not None:
            enter_namespaces(confinement.userns, confinement.uid)
            if confinement.scratch_mb is not None:
                _mount_scratch(confinement)
        keeper_alive, keeper_hold = os.pipe()
        runner = os.fork()
    except BaseException as exc:  # noqa: B036 - report anything, never return to the zygote
        _fail(f"sandbox setup failed: {exc!r}", status_fd)
    if runner == 0:
        _become_runner(run, confinement, (keeper_alive, keeper_hold, status_fd))
    os.close(keeper_alive)
    # The keeper must not hold the runner's pipes open after the runner is gone.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _report(status_fd, _keep(runner))
    if confinement is None:
        # No namespace ends what the runner started: its process group goes instead, and this
        # keeper with it, now that it has reported.
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


def enter_namespaces(userns: bool, uid: int) -> None:
    """Unshare fresh network, PID (for the next child), IPC and mount namespaces, mounts
    private to them; with ``userns``, inside a new user namespace where ``uid`` (this
    process's) is the only uid (and its gid the only gid)."""
    flags = _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWNS
    gid = os.getgid()
    _check(_libc.unshare(flags | (_CLONE_NEWUSER if userns else 0)), "unshare")
    if userns:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
            with open(f"/proc/self/{name}", "w") as mapping:
                mapping.write(text)
    # Nothing mounted here may show outside (nor the other way round).
    _check(_libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")


def _mount_scratch(confinement: Confinement) -> None:
    """A size-capped tmpfs on the scratch directory, seen only in this mount namespace; the
    runner's cwd moves onto it."""
    gid = confinement.uid if not confinement.userns else os.getgid()
    options = f"size={confinement.scratch_mb}m,mode=0700,uid={confinement.uid},gid={gid}"
    home = confinement.home.encode()
    _check(
        _libc.mount(b"tmpfs", home, b"tmpfs", _MS_NOSUID | _MS_NODEV, options.encode()),
        "scratch tmpfs",
    )
    os.chdir(confinement.home)


def _become_runner(
    run: Callable[[], object], confinement: Confinement | None, fds: tuple[int, int, int]
) -> NoReturn:
    """In the forked child (PID 1 of the new namespaces when confined): confine, then run."""
    keeper_alive, keeper_hold, status_fd = fds
    try:
        # User code must never be able to write a status of its own choosing.
        os.close(status_fd)
        os.close(keeper_hold)
        if confinement is not None:
            for procs in confinement.cgroup_procs:
                with open(procs, "w") as joined:
                    joined.write("0")  # this process; its children follow
            _confine(confinement)
        # Set after the uid change, which clears it; then make sure the keeper did not die first.
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        if select.select([keeper_alive], [], [], 0)[0]:
            os._exit(0)
        os.close(keeper_alive)
        if confinement is not None and confinement.seccomp:
            # Last: it refuses clearing the parent-death signal just set.
            syscall_filter.install(_libc)
    except BaseException as exc:  # noqa: B036 - report anything, never fall back to the keeper
        _fail(f"sandbox setup failed: {exc!r}")
    try:
        run()
    except BaseException as exc:  # noqa: B036 - the runner's own failure, not user code's
        _fail(f"runner failed: {exc!r}", code=70)
    os._exit(0)


def _confine(confinement: Confinement) -> None:
    """Limits, Landlock, uid and gid (rootless: no capabilities), ``no_new_privs``: in that
    order (the first two need root or the user namespace's capabilities)."""
    import resource

    limits = [] if confinement.nproc is None else [(resource.RLIMIT_NPROC, confinement.nproc)]
    if confinement.address_space_mb is not None:
        limits.append((resource.RLIMIT_AS, confinement.address_space_mb << 20))
    limits += [(resource.RLIMIT_FSIZE, _MAX_FILE_BYTES), (resource.RLIMIT_NOFILE, _MAX_OPEN_FILES)]
    for limit, value in limits:
        resource.setrlimit(limit, (value, value))
    abi = landlock.abi()
    ruleset = landlock.ruleset(abi, confinement.home, confinement.readable) if abi > 0 else -1
    if confinement.userns:
        _drop_capabilities()
    else:
        uid = confinement.uid
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _fresh_keyrings()
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if ruleset >= 0:
        landlock.restrict_self(ruleset)


def _drop_capabilities() -> None:
    """Drop every capability (held in a user namespace its maker created)."""
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _fresh_keyrings() -> None:
    """A new session keyring, and the uid's own keyrings emptied: keys are kept per uid by
    the kernel, and a uid serves one tenant after another (the seccomp filter then refuses
    every keyring call, so nothing is put there again)."""
    if syscall_filter.KEYCTL is None:
        return
    keyctl = syscall_filter.KEYCTL
    _check(_libc.syscall(keyctl, _KEYCTL_JOIN_SESSION_KEYRING, None), "session keyring")
    for keyring in (_KEY_SPEC_USER_KEYRING, _KEY_SPEC_USER_SESSION_KEYRING):
        _libc.syscall(keyctl, _KEYCTL_CLEAR, keyring)  # may fail on a fresh, empty one: fine


def _keep(runner: int) -> int:
    """In the keeper: wait for the runner, killing it on SIGTERM; its wait status."""

    def on_term(signum: int, frame: object) -> None:
        try:
            os.kill(runner, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    return wait_for_runner(runner)


def wait_for_runner(runner: int) -> int:
    """Wait until ``runner`` has ended, and return how it ended (exited or killed).

    A stop is never an end: a runner that made its keeper its tracer (``PTRACE_TRACEME``) is
    reported stopped by ``waitpid``, and reporting that would let it run on with no keeper
    (and, having cleared its parent-death signal, past its sandbox). So a stopped runner is
    killed and waited for. A confined runner is PID 1 of its namespace: its end is reported
    only after every other process in the namespace is gone.
    """
    while True:
        _, status = os.waitpid(runner, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            return status
        try:
            os.kill(runner, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _report(status_fd: int, status: int) -> None:
    try:
        os.write(status_fd, status.to_bytes(STATUS_BYTES, "big"))
    except OSError:
        pass  # the worker is gone: no one is left to tell


def _fail(message: str, status_fd: int | None = None, code: int = 71) -> NoReturn:
    """Write ``message`` to stderr and exit with ``code``; the keeper reports it as a status."""
    try:
        os.write(2, f"{message}\n".encode())
    except OSError:
        pass
    if status_fd is not None:
        _report(status_fd, code << 8)  # the wait status of "exited with code"
    os._exit(code)


def probe(rootless: bool) -> dict[str, object]:
    """What confinement this machine gives (see :mod:`.isolation`), tried for real in a
    child: its Landlock ABI, whether a sandbox's namespaces can be made (and a PID 1 forked
    in them), and whether the seccomp filter can be installed."""
    readable, writable = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(readable)
            enter_namespaces(rootless, os.getuid())
            init = os.fork()
            if init == 0:
                os._exit(0)
            if os.WIFEXITED(os.waitpid(init, 0)[1]):
                os.write(writable, b"n")
        except BaseException:  # noqa: B036, S110 - whatever failed is what is reported
            pass
        try:
            _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            syscall_filter.install(_libc)
            os.write(writable, b"s")
        except BaseException:  # noqa: B036, S110
            pass
        os._exit(0)
    os.close(writable)
    os.waitpid(child, 0)
    with os.fdopen(readable, "rb") as report:
        seen = report.read()
    return {"landlock_abi": landlock.abi(), "namespaces": b"n" in seen, "seccomp": b"s" in seen}
