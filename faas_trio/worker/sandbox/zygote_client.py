"""The worker's end of its zygote (:mod:`.zygote`): the process that forks every sandbox.

A :class:`Zygote` starts the zygote on first use and then sends it one spawn request at a time
over a ``SOCK_SEQPACKET`` socket pair, each answered by the new child's pid and pidfd. A zygote
that dies is replaced by the next spawn; one that does not answer in time, or answers garbage,
is killed and reaped, fails that spawn, and is replaced by the next one. Sandboxes forked by a
zygote die with it (their keepers ask for SIGKILL at its death).

The zygote is started with :class:`subprocess.Popen` from the calling (trio) thread, for the
reason given in :mod:`.spawn`: its ``PR_SET_PDEATHSIG`` must be tied to a thread that lives as
long as the worker. It is never forked from the worker after start: each sandbox starts from
the zygote's clean interpreter, not from a copy of the worker's memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
from array import array
from collections.abc import Sequence
from pathlib import Path

import trio

from .protocol import (
    MAX_SPAWN_MESSAGE_BYTES,
    ProtocolError,
    SpawnReply,
    SpawnRequest,
    encode_spawn_request,
    parse_spawn_reply,
)

__all__ = ["SPAWN_TIMEOUT", "Zygote", "ZygoteFailed"]

_SCRIPT = Path(__file__).resolve().parent / "zygote.py"
#: Its whole environment. Children get theirs in each request, but the kernel keeps showing
#: the zygote's in their ``/proc/<pid>/environ``: nothing of the worker's may be in it. Numeric
#: libraries read their thread counts at import, which an environment's zygote does: one
#: thread each, as a sandbox has few processes and a fork keeps only the forking thread.
_ENV = {
    "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}  # fmt: skip
#: How long one spawn may take (request sent, child forked, reply received), seconds.
SPAWN_TIMEOUT = 5.0
#: Extra seconds the first spawn of a zygote may take: it starts an interpreter first, which
#: on a loaded machine (a burst starting workers) took longer than a spawn.
_START_ALLOWANCE = 10.0
#: How long a kill of the zygote may wait for it to be reaped, seconds.
_KILL_GRACE = 2.0
#: How long more a zygote that outlived that grace is waited for, once killed again.
_REAP_WAIT = 10.0
#: Zygotes killed but not yet reaped (not dead within both waits, or a stop was cancelled):
#: reaped by the next start or stop of any zygote of this process.
_UNREAPED: list[subprocess.Popen[bytes]] = []

log = logging.getLogger("faas.worker.zygote")
_FD_SIZE = array("i").itemsize


class ZygoteFailed(Exception):
    """No child was started: the zygote refused the request, could not be started, broke
    or timed out (then it was killed and reaped), or this :class:`Zygote` is closed."""


class Zygote:
    """A worker's zygote, run by ``python`` (the system interpreter the runners use). One
    spawn at a time; :meth:`aclose` when done.

    With a ``path`` (a package environment) the zygote puts it first on its module path and
    imports the ``preload`` modules before it forks anything, so every sandbox it forks
    starts with them loaded (shared copy-on-write); one that fails to import is reported on
    the zygote's stderr and skipped.
    """

    def __init__(
        self,
        python: str,
        path: str | None = None,
        preload: Sequence[str] = (),
        *,
        preload_timeout: float = 60.0,
    ) -> None:
        self._python = python
        self._path = path
        self._preload = tuple(preload)
        #: Extra seconds the first spawn of a preloading zygote may take (its imports).
        self._preload_timeout = preload_timeout if self._preload else 0.0
        self._lock = trio.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        self._socket: trio.socket.SocketType | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running zygote's pid, or None when none is started."""
        return None if self._process is None else self._process.pid

    async def spawn(self, request: SpawnRequest, fds: Sequence[int]) -> tuple[int, int]:
        """Have the zygote fork a child for ``request`` with ``fds`` (see :mod:`.zygote` for
        the descriptors); returns the child's pid and a pidfd for it, owned by the caller.
        ``fds`` are sent, not closed: the caller closes its copies.

        Raises:
            ZygoteFailed: no child was started (see the class).

        Cancellation: while an earlier spawn runs, it propagates at once. Once this spawn has
        the zygote, it is shielded (bounded by :data:`SPAWN_TIMEOUT`, plus the start and
        preload allowances when it starts the zygote, plus a kill's grace), so
        a child is never started without its pidfd reaching the caller: the caller sees the
        cancel at its next checkpoint and kills that child.
        """
        async with self._lock:
            with trio.CancelScope(shield=True):
                if self._closed:
                    raise ZygoteFailed("the zygote is closed")
                if self._process is not None and self._process.poll() is not None:
                    await self._stop()  # died since the last spawn: just replace it
                starting = self._socket is None
                sock = self._socket if self._socket is not None else self._start()
                try:
                    allowance = (_START_ALLOWANCE + self._preload_timeout) * starting
                    with trio.fail_after(SPAWN_TIMEOUT + allowance):
                        reply, pidfd = await _exchange(sock, request, fds)
                except (trio.TooSlowError, OSError, ProtocolError) as exc:
                    await self._stop()
                    reason = "did not answer in time" if isinstance(exc, trio.TooSlowError) else exc
                    raise ZygoteFailed(f"the zygote failed: {reason}") from None
        if reply.pid is None or pidfd is None:
            raise ZygoteFailed(reply.error or "the zygote refused the request")
        return reply.pid, pidfd

    async def aclose(self) -> None:
        """Kill and reap the zygote (its children die with it); no spawn succeeds after this.
        Idempotent.

        Cancellation: shielded, bounded by a kill's grace.
        """
        self._closed = True
        with trio.CancelScope(shield=True):
            async with self._lock:
                await self._stop()

    def _start(self) -> trio.socket.SocketType:
        """Start a zygote (a fork of this process that at once executes the interpreter).

        Raises:
            ZygoteFailed: it could not be started.
        """
        _reap_unreaped()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [
            self._python, "-I", "-S", "-B", str(_SCRIPT),
            "--parent", str(os.getpid()), "--socket", str(theirs.fileno()),
        ]  # fmt: skip
        if self._path is not None:
            argv += ["--path", self._path, "--preload", ",".join(self._preload)]
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=_ENV,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise ZygoteFailed(f"cannot start the zygote: {exc}") from exc
        finally:
            theirs.close()
        self._pidfd = os.pidfd_open(self._process.pid)
        self._socket = trio.socket.from_stdlib_socket(ours)
        return self._socket

    async def _stop(self) -> None:
        """Kill and reap the zygote, if one is started. One still alive after the kill's
        grace is killed again (SIGKILL through its pidfd) and waited for up to
        :data:`_REAP_WAIT` more; one that outlives even that (a process in an
        uninterruptible sleep dies only when it wakes) is logged and reaped by the next
        start or stop of a zygote, never left behind.

        Cancellation: not shielded here; callers shield it. Bounded by both waits; a cancel
        leaves the zygote killed, to be reaped later as above.
        """
        process, self._process = self._process, None
        pidfd, self._pidfd = self._pidfd, -1
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if process is None:
            return
        try:
            process.kill()
            for wait in (_KILL_GRACE, _REAP_WAIT):
                with trio.move_on_after(wait):
                    await trio.lowlevel.wait_readable(pidfd)
                if process.poll() is not None:
                    return
                log.warning("zygote %d is alive %g s after SIGKILL: killed again", process.pid,
                            wait)  # fmt: skip
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        finally:
            os.close(pidfd)
            if process.poll() is None:
                _UNREAPED.append(process)
            _reap_unreaped()


def _reap_unreaped() -> None:
    """Reap the zygotes of :data:`_UNREAPED` that have died since."""
    for process in list(_UNREAPED):
        if process.poll() is not None:
            _UNREAPED.remove(process)


async def _exchange(
    sock: trio.socket.SocketType, request: SpawnRequest, fds: Sequence[int]
) -> tuple[SpawnReply, int | None]:
    """Send one request and receive its reply and the descriptor that came with it.

    Raises:
        OSError: the socket broke.
        ProtocolError: the reply is not what the protocol allows (its descriptors are closed).

    Cancellation: may leave a request unanswered; the caller then kills the zygote.
    """
    await sock.sendmsg(
        [encode_spawn_request(request)],
        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", fds))],
    )
    data, ancdata, flags, _ = await sock.recvmsg(
        MAX_SPAWN_MESSAGE_BYTES, socket.CMSG_SPACE(_FD_SIZE), socket.MSG_CMSG_CLOEXEC
    )
    received = array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
    try:
        if not data:
            raise ConnectionResetError("the zygote closed its socket")
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(received) > 1:
            raise ProtocolError("the reply was truncated")
        reply = parse_spawn_reply(data, len(received))
    except BaseException:
        for fd in received:
            os.close(fd)
        raise
    return reply, received[0] if received else None
