"""The zygote: a clean interpreter, started once per worker, that forks every sandbox.

Run as a script by the worker (as root when sandboxes are confined), never imported by it::

    python3 -I -S -B zygote.py --parent PID --socket FD [--path DIR --preload a,b.c]

``FD`` is its end of an ``AF_UNIX``/``SOCK_SEQPACKET`` socket pair; the worker holds the other
(:mod:`.zygote_client`). At start it asks for SIGKILL when the worker dies (and checks the
worker is still its parent), imports every stdlib module the Python runner and the confinement
use, and compiles ``python_runner.py`` once, while still root. Each sandbox then costs a fork
of this warm process instead of an interpreter start. A zygote of a package environment puts
``DIR`` (the environment, read-only) first on ``sys.path`` and imports the ``--preload``
modules too, so a function importing them finds them loaded: the import is not paid per
sandbox. That import runs the packages' module code in the zygote (as the worker's user);
the packages come from wheels of the index the operator configured.

Protocol (:mod:`.protocol`): one request is one message, a
:class:`~.protocol.SpawnRequest` plus four descriptors (``SCM_RIGHTS``): the runner's stdin
read end, stdout write end, stderr write end, and the write end of a *status* pipe. The reply
is a :class:`~.protocol.SpawnReply`: the pid with the child's pidfd as its one descriptor, or
an error with none, after which the zygote serves the next request as before. It exits at end
of file on the socket. Run with ``--probe root|rootless`` instead, it prints what confinement
works on this machine as JSON and exits (:func:`.confine.probe`).

The child, before anything else, restores the signal handling the zygote changed, closes the
socket and every descriptor it was not given, starts a new session, lowers its CPU priority
(:data:`.confine.SANDBOX_NICE`), takes the pipes as 0-2, and
moves to the scratch directory with the given environment; then it becomes the sandbox's keeper
(:func:`.confine.become_keeper`), whose parent-death signal is tied to the zygote. The zygote
reaps its children as they exit (``SIGCHLD``), so none is left a zombie.
"""

from __future__ import annotations

import builtins
import gc
import json
import os
import signal
import socket
import sys
from array import array
from collections.abc import Callable
from typing import Any, NoReturn

# Run with -I, so its own directory is not on the path: confine.py is imported from there.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import confine, protocol
else:
    import confine
    import protocol

#: What the Python runner imports (``asyncio`` only for async functions), imported here once.
_PRELOADED = ("asyncio", "json", "resource", "struct", "time", "types")
_RUNNER = os.path.join(_HERE, "python_runner.py")
#: stdin, stdout, stderr, status.
_FDS_PER_REQUEST = 4
_FD_SIZE = array("i").itemsize


def main() -> None:
    options = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=True))
    if "--probe" in options:  # what confinement works here (see isolation.py), then exit
        print(json.dumps(confine.probe(options["--probe"] == "rootless")))
        return
    confine.die_with_parent(int(options["--parent"]))
    for name in _PRELOADED:
        __import__(name)
    if options.get("--path"):
        _preload(options["--path"], options.get("--preload", ""))
    with open(_RUNNER, encoding="utf-8") as script:
        runner = compile(script.read(), _RUNNER, "exec", dont_inherit=True)
    # Children's garbage collections then skip what they inherit, so they do not touch (and
    # copy) the pages they share with the zygote.
    gc.freeze()
    sock = socket.socket(fileno=int(options["--socket"]))
    signal.signal(signal.SIGCHLD, _reap_children)
    _serve(sock, runner)


def _preload(path: str, modules: str) -> None:
    """Put the environment at ``path`` first on the module path and import ``modules``
    (comma-separated); a module that fails is reported and skipped."""
    import importlib

    sys.path.insert(0, path)
    for name in filter(None, modules.split(",")):
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: B036 - a package must not stop the zygote
            print(f"zygote: preloading {name} failed: {exc!r}", file=sys.stderr, flush=True)


def _serve(sock: socket.socket, runner: Any) -> None:
    """Answer requests until end of file, or until the worker cannot be answered."""
    while True:
        data, fds, truncated = _receive(sock)
        if not data and not fds:
            return
        pidfd: int | None = None
        try:
            if truncated:
                raise protocol.ProtocolError("the request or its descriptors were truncated")
            if len(fds) != _FDS_PER_REQUEST:
                raise protocol.ProtocolError(
                    f"expected {_FDS_PER_REQUEST} descriptors, got {len(fds)}"
                )
            request = protocol.parse_spawn_request(data)
            run = _run(request, runner)
            pid, pidfd = _fork(sock, fds, run, _confinement(request), request.home, request.env)
        except Exception as exc:  # a request that cannot be served must not end the zygote
            reply = protocol.SpawnReply(error=str(exc) or type(exc).__name__)
        else:
            reply = protocol.SpawnReply(pid=pid)
        finally:
            for fd in fds:
                os.close(fd)
        try:
            _send(sock, reply, pidfd)
        except OSError:
            return  # the worker is gone
        finally:
            if pidfd is not None:
                os.close(pidfd)


def _receive(sock: socket.socket) -> tuple[bytes, list[int], bool]:
    """One message: its bytes, its descriptors, and whether either was truncated."""
    data, ancdata, flags, _ = sock.recvmsg(
        protocol.MAX_SPAWN_MESSAGE_BYTES,
        socket.CMSG_SPACE(_FDS_PER_REQUEST * _FD_SIZE),
        socket.MSG_CMSG_CLOEXEC,
    )
    fds = array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
    return data, list(fds), bool(flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC))


def _send(sock: socket.socket, reply: protocol.SpawnReply, fd: int | None) -> None:
    ancdata = [] if fd is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", [fd]))]
    sock.sendmsg([protocol.encode_spawn_reply(reply)], ancdata)


def _run(request: protocol.SpawnRequest, runner: Any) -> Callable[[], object]:
    """What the child will run."""
    if request.runtime == "python":
        return _python_runner(runner, list(request.argv))
    return _executable(list(request.argv), request.env)


def _confinement(request: protocol.SpawnRequest) -> confine.Confinement | None:
    options = request.confine
    if options is None:
        return None
    return confine.Confinement(
        options.uid,
        request.home,
        options.nproc,
        options.read,
        options.address_space_mb,
        seccomp=options.seccomp,
        userns=options.userns,
        scratch_mb=options.scratch_mb,
        cgroup_procs=options.cgroup_procs,
    )


def _python_runner(runner: Any, argv: list[str]) -> Callable[[], object]:
    def run() -> None:
        sys.argv = [_RUNNER, *argv]
        exec(runner, {"__name__": "__main__", "__file__": _RUNNER, "__builtins__": builtins})

    return run


def _executable(argv: list[str], env: dict[str, str]) -> Callable[[], object]:
    def run() -> NoReturn:
        os.execve(argv[0], argv, env)

    return run


def _fork(
    sock: socket.socket,
    fds: list[int],
    run: Callable[[], object],
    confinement: confine.Confinement | None,
    home: str,
    env: dict[str, str],
) -> tuple[int, int]:
    """Fork the sandbox's keeper; its pid and pidfd."""
    zygote = os.getpid()
    # The child must not be reaped before its pidfd exists: a reaped pid may be reused.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    try:
        pid = os.fork()
        if pid == 0:
            _child(zygote, sock, fds, run, confinement, home, env)
        return pid, os.pidfd_open(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])


def _child(
    zygote: int,
    sock: socket.socket,
    fds: list[int],
    run: Callable[[], object],
    confinement: confine.Confinement | None,
    home: str,
    env: dict[str, str],
) -> NoReturn:
    """In the forked child: take the request's pipes, then become the keeper. Never returns
    to the zygote's loop, whatever happens."""
    status = fds[3]
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        sock.close()
        os.setsid()
        os.nice(confine.SANDBOX_NICE)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, status)
        os.closerange(status + 1, 1 << 30)
        confine.die_with_parent(zygote)
        os.chdir(home)
        os.environ.clear()
        os.environ.update(env)
    except BaseException as exc:  # noqa: B036 - report anything, never return to the zygote
        try:
            os.write(2, f"sandbox start failed: {exc!r}\n".encode())
            os.write(status, (71 << 8).to_bytes(confine.STATUS_BYTES, "big"))
        finally:
            os._exit(71)
    confine.become_keeper(run, confinement, status)


def _reap_children(signum: int, frame: object) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    main()
