"""What a sandbox is: a *keeper* that holds a *runner* confined, and reports how it ended.

Used by :mod:`.zygote` (and only there: the worker never imports it) in each child it forks,
after that child has taken its pipes, scratch directory and environment:
:func:`become_keeper` turns the process into the sandbox's keeper (still root, waiting), which
forks the runner. When confined, the keeper first unshares fresh network, PID and IPC
namespaces, so the runner is PID 1 of its namespace: when it dies, the kernel kills every
process in the namespace, including ones that called ``setsid``. The runner, before any user
code:

- sets ``RLIMIT_NPROC`` (counted per uid, so each sandbox gets its own uid from the worker),
  file size and open files limits, and the address space if given (the Python runner sets
  its own);
- restricts the filesystem with Landlock: read and execute under the system directories
  (``/usr``, ``/etc``…) and the readable paths it is given, read and write only in its scratch
  directory; with Landlock ABI 6 it also cannot signal processes outside its sandbox;
- drops to its uid and gid with no supplementary groups and ``no_new_privs``;
- asks for SIGKILL when the keeper dies, and checks the keeper is still there;
- runs what the zygote gives it: the Python runner in this same interpreter (compiled by the
  zygote while still root), or Node executed with the runner script.

Unconfined (the worker is not root) the runner gets none of the namespaces, Landlock or uid,
only the parent-death signal, and when it ends the keeper kills what is left of its process
group: both modes have the same keeper and runner.

Its network namespace has only a loopback interface that is down: no connection can be made,
to the host's loopback (the frontend, the database) or anywhere else.

The worker is not the keeper's parent (the zygote is), so the keeper writes the runner's wait
status (:data:`STATUS_BYTES` bytes, big-endian) to its status pipe before it exits. On SIGTERM
it kills the runner and waits until the whole namespace is gone before it reports and exits:
once the keeper has exited, no process of the sandbox is left and its uid may be reused. If
the zygote dies (it does when the worker dies), the keeper is killed (``PR_SET_PDEATHSIG``),
then the runner, then the namespace.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

__all__ = [
    "STATUS_BYTES",
    "Confinement",
    "become_keeper",
    "die_with_parent",
    "wait_for_runner",
]

#: Size of the wait status a keeper reports on its status pipe.
STATUS_BYTES = 4

_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
# x86_64 and aarch64 share these syscall numbers (they were added after the tables unified).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

# Landlock filesystem rights, and the ABI version that introduced the last ones.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14) | (1 << 15)
_READ_ONLY = _EXECUTE | _READ_FILE | _READ_DIR
#: Read-only for the interpreters (merged-/usr systems make /bin, /lib… links into /usr).
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
#: Devices a runner may open read-write.
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")

_MAX_FILE_BYTES = 64 * 1024 * 1024
_MAX_OPEN_FILES = 64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _landlock_abi() -> int:
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def _landlock_ruleset(abi: int, home: str, readable: tuple[str, ...]) -> int:
    """A Landlock ruleset fd: read-only system dirs and ``readable``, read-write ``home``."""
    fs_rights = max(rights for level, rights in _FS_RIGHTS_BY_ABI.items() if level <= abi)
    attr = _RulesetAttr(fs_rights, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16  # older ABIs know only two fields
    ruleset = _check(
        _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0), "landlock"
    )
    grants = [(path, _READ_ONLY) for path in (*_SYSTEM_DIRS, *readable)]
    grants += [(path, _READ_FILE | _WRITE_FILE | (1 << 15)) for path in _DEVICES]
    grants.append((home, fs_rights))
    for path, rights in grants:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # not on this system
        try:
            if not os.path.isdir(path):
                rights &= _FILE_RIGHTS
            rule = _PathBeneathAttr(rights & fs_rights, fd)
            _check(
                _libc.syscall(
                    _SYS_LANDLOCK_ADD_RULE,
                    ruleset,
                    _LANDLOCK_RULE_PATH_BENEATH,
                    ctypes.byref(rule),
                    0,
                ),
                f"landlock rule for {path}",
            )
        finally:
            os.close(fd)
    return ruleset


def die_with_parent(parent: int) -> None:
    """Ask for SIGKILL when the parent dies; exit now if ``parent`` is no longer the parent
    (it died before the request took effect)."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if os.getppid() != parent:
        os._exit(0)


@dataclass(frozen=True)
class Confinement:
    """What a confined runner is held to (see the module docstring)."""

    #: Its uid and gid.
    uid: int
    #: Its scratch directory, the one place it may write.
    home: str
    #: ``RLIMIT_NPROC``.
    nproc: int
    #: Paths it may read and execute besides the system directories.
    readable: tuple[str, ...] = ()
    #: ``RLIMIT_AS`` in MiB, or None to leave it to the runner.
    address_space_mb: int | None = None


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
            _check(_libc.unshare(_CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWIPC), "unshare")
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
            _confine(confinement)
        # Set after the uid change, which clears it; then make sure the keeper did not die first.
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        if select.select([keeper_alive], [], [], 0)[0]:
            os._exit(0)
        os.close(keeper_alive)
    except BaseException as exc:  # noqa: B036 - report anything, never fall back to the keeper
        _fail(f"sandbox setup failed: {exc!r}")
    try:
        run()
    except BaseException as exc:  # noqa: B036 - the runner's own failure, not user code's
        _fail(f"runner failed: {exc!r}", code=70)
    os._exit(0)


def _confine(confinement: Confinement) -> None:
    """Limits, Landlock, uid and gid, ``no_new_privs``: in that order (the first two need root)."""
    import resource

    uid = confinement.uid
    limits = [(resource.RLIMIT_NPROC, confinement.nproc)]
    if confinement.address_space_mb is not None:
        limits.append((resource.RLIMIT_AS, confinement.address_space_mb << 20))
    limits += [(resource.RLIMIT_FSIZE, _MAX_FILE_BYTES), (resource.RLIMIT_NOFILE, _MAX_OPEN_FILES)]
    for limit, value in limits:
        resource.setrlimit(limit, (value, value))
    abi = _landlock_abi()
    ruleset = _landlock_ruleset(abi, confinement.home, confinement.readable) if abi > 0 else -1
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if ruleset >= 0:
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
        os.close(ruleset)


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
