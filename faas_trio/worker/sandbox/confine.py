"""The root-side launcher of every runner child: builds the confinement, then becomes the runner.

Run as a script by the worker (as root), never imported by it::

    python3 -I -S -B confine.py --uid U --home DIR --nproc N --parent PID --runtime python|node
        [--address-space-mb M] [--read PATH]... -- <runner argv>

It stays outside as the *keeper* (still root, waiting) and forks the *runner* into fresh
network, PID and IPC namespaces, so the runner is PID 1 of its namespace: when it dies, the
kernel kills every process in the namespace, including ones that called ``setsid``. The runner,
before any user code:

- sets ``RLIMIT_NPROC`` (counted per uid, so each sandbox gets its own uid from the worker),
  file size and open files limits, and the address space if given (the Python runner sets
  its own);
- restricts the filesystem with Landlock: read and execute under the system directories
  (``/usr``, ``/etc``…) and the ``--read`` paths, read and write only in its scratch ``--home``;
  with Landlock ABI 6 it also cannot signal processes outside its sandbox;
- drops to uid and gid ``U`` with no supplementary groups and ``no_new_privs``;
- asks for SIGKILL when the keeper dies, and checks the keeper is still there;
- runs the Python runner in this same interpreter (its source is read while still root), or
  executes Node with the runner script.

Its network namespace has only a loopback interface that is down: no connection can be made,
to the host's loopback (the frontend, the database) or anywhere else.

The keeper exits the way the runner did (same code, or the same signal), and on SIGTERM kills
the runner and waits until the whole namespace is gone before it exits: once the worker has
reaped the keeper, no process of the sandbox is left and its uid may be reused. If the worker
dies, the keeper is killed (``PR_SET_PDEATHSIG``), then the runner, then the namespace.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys

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


def _landlock_ruleset(abi: int, home: str, readable: list[str]) -> int:
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


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    split = argv.index("--")
    options: dict[str, str] = {}
    readable: list[str] = []
    head = argv[:split]
    for flag, value in zip(head[::2], head[1::2], strict=True):
        if flag == "--read":
            readable.append(value)
        else:
            options[flag.lstrip("-")] = value
    return options, readable, argv[split + 1 :]


def _become_runner(
    options: dict[str, str], readable: list[str], runner_argv: list[str], keeper_alive: int
) -> None:
    """In the forked child (PID 1 of the new namespaces): confine, then run the runner."""
    uid = int(options["uid"])
    home = options["home"]
    runtime = options["runtime"]
    source = None
    if runtime == "python":
        with open(runner_argv[0], encoding="utf-8") as script:
            source = script.read()
    import resource

    limits = [(resource.RLIMIT_NPROC, int(options["nproc"]))]
    if "address-space-mb" in options:
        limits.append((resource.RLIMIT_AS, int(options["address-space-mb"]) << 20))
    limits += [(resource.RLIMIT_FSIZE, _MAX_FILE_BYTES), (resource.RLIMIT_NOFILE, _MAX_OPEN_FILES)]
    for limit, value in limits:
        resource.setrlimit(limit, (value, value))
    abi = _landlock_abi()
    ruleset = _landlock_ruleset(abi, home, readable) if abi > 0 else -1
    os.chdir(home)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if ruleset >= 0:
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
        os.close(ruleset)
    # Set after the uid change, which clears it; then make sure the keeper did not die first.
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if select.select([keeper_alive], [], [], 0)[0]:
        os._exit(0)
    os.close(keeper_alive)
    if source is None:
        os.execv(runner_argv[0], runner_argv)
    sys.argv = runner_argv
    code = compile(source, runner_argv[0], "exec")
    exec(code, {"__name__": "__main__", "__file__": runner_argv[0], "__builtins__": __builtins__})
    os._exit(0)


def _keep(runner: int) -> None:
    """In the keeper: wait for the runner, kill it on SIGTERM, exit as it did."""

    def on_term(signum: int, frame: object) -> None:
        try:
            os.kill(runner, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    # The runner is PID 1 of its namespace: its wait status is reported only after every
    # other process in the namespace is gone.
    _, status = os.waitpid(runner, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 70)


def main() -> None:
    options, readable, runner_argv = _parse(sys.argv[1:])
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    parent = int(options.get("parent", "0"))
    if parent and os.getppid() != parent:
        os._exit(0)  # the worker died before the request above took effect
    _check(_libc.unshare(_CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWIPC), "unshare")
    keeper_alive, keeper_hold = os.pipe()
    runner = os.fork()
    if runner == 0:
        os.close(keeper_hold)
        try:
            _become_runner(options, readable, runner_argv, keeper_alive)
        except BaseException as exc:  # noqa: B036 - report anything, never fall back to the keeper
            os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(71)
    os.close(keeper_alive)
    # The keeper must not hold the runner's pipes open after the runner is gone.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _keep(runner)


if __name__ == "__main__":
    main()
