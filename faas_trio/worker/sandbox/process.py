"""One running runner child: how a request reaches it, where its output goes, how it dies.

A :class:`Sandbox` is a Python or Node runner (``python_runner.py``, ``node_runner.js``) held
by its keeper (:mod:`.confine`) in its own session and process group, with a fresh scratch
directory as its working directory and home, and a minimal environment. The worker talks to it
in the frames of :mod:`.protocol` over its stdin and stdout (:mod:`.channel`), and trusts
nothing it reads: a reply over its cap, malformed, or sent when nothing was asked kills the
child. Its stderr is drained continuously into a capped buffer that the caller takes as the
current call's logs, so the child can never stall on a full pipe.

How it is started is :mod:`.spawn`'s business: the worker's zygote forks it, so the worker is
not its parent and cannot wait for it. It watches the keeper through a pidfd instead (readable
once the keeper has exited), signals it with ``pidfd_send_signal``, and learns how the runner
ended from the wait status the keeper writes to its status pipe as it exits; a keeper that
exits without writing one was itself killed, which is reported as killed by SIGKILL.
"""

from __future__ import annotations

import logging
import os
import select
import signal
from collections.abc import Mapping, Sequence

import trio

from ...core.records import Runtime
from .channel import ChildGone, RunnerChannel, StderrDrain
from .protocol import ProtocolError, Reply, Request
from .scratch import ScratchTrash, remove_tree
from .spawn import Spawned, SpawnFailed, SpawnSettings, spawn_runner
from .uids import processes_of_uid
from .zygote_client import Zygote

__all__ = [
    "KILL_GRACE",
    "Sandbox",
    "SandboxError",
    "SandboxOutOfMemory",
    "SandboxTimeout",
    "SandboxUnused",
    "start_sandbox",
]

log = logging.getLogger("faas.worker.sandbox")

#: How long a kill may wait for the child to be reaped, seconds.
KILL_GRACE = 2.0
#: After the child closes its stdout, how long it gets to exit on its own before it is killed.
_EXIT_GRACE = 0.5
#: How long a kill waits for the zygote to reap the exited keeper (it frees the pid), seconds.
_REAPED_GRACE = 0.25
#: Size of the wait status the keeper reports (``confine.STATUS_BYTES``, big-endian).
_STATUS_BYTES = 4


class SandboxError(Exception):
    """The child could not start, died, or broke the protocol; it is no longer running."""


class SandboxUnused(SandboxError):
    """The child had ended before it read the whole request (a warm child that died while
    idle): the request did not run, so it may be sent to another child."""


class SandboxOutOfMemory(SandboxError):
    """The sandbox went over its memory cgroup's limit and the kernel killed it."""

    def __init__(self, memory_mb: int) -> None:
        super().__init__(
            f"out of memory: the function went over its {memory_mb} MiB (all its processes,"
            " memfds, shared memory and scratch files together) and was killed; give it a"
            " larger memory_mb"
        )


class SandboxTimeout(Exception):
    """The child did not answer within the time allowed; it has been killed and reaped.

    Raised by the callers that set the deadline, not by :class:`Sandbox` itself."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g}s")
        self.seconds = seconds


async def start_sandbox(
    nursery: trio.Nursery,
    runtime: Runtime,
    memory_mb: int,
    settings: SpawnSettings,
    zygote: Zygote,
    trash: ScratchTrash | None = None,
    *,
    variables: Mapping[str, str] | None = None,
    readable: Sequence[str] = (),
) -> Sandbox:
    """Spawn a runner child through ``zygote`` (with ``variables`` in its environment, and
    ``readable`` paths it may read: see :func:`.spawn.build_request`); its stderr drain runs
    in ``nursery`` until the child is killed. Its scratch directory goes to ``trash`` when it
    ends (without one, it is removed there and then, as far as :func:`.scratch.remove_tree`'s
    budget allows).

    Raises:
        SandboxError: the child could not be started.

    Cancellation: a cancel after the spawn kills and reaps the child before it propagates;
    before it, nothing is left behind.
    """
    try:
        spawned = await spawn_runner(
            runtime, memory_mb, settings, zygote, variables=variables, readable=readable
        )
    except SpawnFailed as exc:
        raise SandboxError(str(exc)) from exc
    sandbox = Sandbox(spawned, settings.log_cap, memory_mb, trash)
    try:
        await nursery.start(sandbox.drain_stderr)
    except BaseException:
        await sandbox.kill()
        raise
    return sandbox


class Sandbox:
    """A running runner child. Made by :func:`start_sandbox`; ends with :meth:`kill`. One
    request (or batch) at a time: the warm pool never shares a sandbox between calls."""

    def __init__(
        self,
        spawned: Spawned,
        log_cap: int,
        memory_mb: int = 0,
        trash: ScratchTrash | None = None,
    ) -> None:
        #: The keeper's pid (the process group's and session's id too).
        self.pid = spawned.pid
        self._pidfd = spawned.pidfd
        self._status_fd = spawned.status_fd
        self._returncode: int | None = None
        self._channel = RunnerChannel(spawned.stdin_fd, spawned.stdout_fd, log_cap)
        self._stderr = StderrDrain(spawned.stderr_fd, log_cap)
        self._reap_lock = trio.Lock()
        self._kill_lock = trio.Lock()
        self._home = spawned.home
        self._trash = trash
        self._uid = spawned.uid
        self._cgroup = spawned.cgroup
        self._memory_mb = memory_mb
        self._oom_killed = False
        self._closed = False

    @property
    def alive(self) -> bool:
        """False once the child was killed or has exited (checked without blocking)."""
        return not self._closed and not self._exited()

    @property
    def quiet(self) -> bool:
        """False when the child wrote on its reply pipe (or closed it) while nothing was
        asked: it is then unfit for another request. Checked without blocking."""
        return not self._closed and self._channel.quiet

    @property
    def returncode(self) -> int | None:
        """How the runner ended, once it has: its exit code, or minus the signal that killed
        it (SIGKILL when the keeper itself was killed). None while it runs."""
        return self._returncode

    def take_stderr(self) -> str:
        """What the child wrote to stderr since the last take (capped), including what is
        still in the pipe: output written before a reply is never missed."""
        return self._stderr.take()

    async def request(self, request: Request) -> Reply:
        """Send ``request``, return the child's reply. Callers bound it with a deadline.

        Raises:
            SandboxError: the child died, or broke the protocol (a reply over its cap,
                malformed, or bytes sent when nothing was asked); it was killed and reaped.
            SandboxOutOfMemory: the sandbox went over its memory cgroup (some process of
                it was OOM-killed); it was killed and reaped.

        Cancellation: the child is killed and reaped (shielded, up to :data:`KILL_GRACE`)
        before ``Cancelled`` propagates, since its state mid-request is unknown. So a deadline
        that expires kills the child too.
        """
        await self.send(request)
        return await self.receive(request)

    async def send(self, request: Request) -> None:
        """The first half of :meth:`request` (a :class:`.BatchRequest` is then answered by
        one :meth:`receive` per item). Raises and cancels as :meth:`request`."""
        if not self.alive:
            raise SandboxError("sandbox is not running")
        try:
            await self._channel.send(request)
        except (ProtocolError, ChildGone) as exc:
            # A pipe with no reader left: the child ended before it could read this request
            # (one that ended just after its last reply, still counted alive).
            raise await self._failure(exc, unread=isinstance(exc, ChildGone)) from None
        except BaseException:
            await self.kill()
            raise

    async def receive(self, request: Request) -> Reply:
        """The second half of :meth:`request`: the child's next reply to ``request`` (for a
        batch, its next item's). Raises and cancels as :meth:`request`."""
        try:
            reply = await self._channel.receive(request)
        except (ProtocolError, ChildGone) as exc:
            raise await self._failure(exc) from None
        except BaseException:
            await self.kill()
            raise
        if self._cgroup is not None and self._cgroup.oom_killed():
            # Another of its processes was OOM-killed: the call went over its memory all the same.
            await self.kill()
            raise SandboxOutOfMemory(self._memory_mb)
        return reply

    async def _failure(
        self, exc: ProtocolError | ChildGone, *, unread: bool = False
    ) -> SandboxError:
        """Kill the child after ``exc`` broke an exchange; the error to raise instead
        (:class:`SandboxUnused` when the child left the request unread: ``unread``, or bytes
        of it still in its pipe).

        Cancellation: shielded (see :meth:`kill`).
        """
        if isinstance(exc, ProtocolError):
            await self.kill()
            return SandboxError(f"the sandbox broke the protocol: {exc}")
        with trio.CancelScope(shield=True), trio.move_on_after(_EXIT_GRACE):
            await self._reap()
        unread = unread or (not self._closed and self._channel.unread_request_bytes() > 0)
        await self.kill()
        if self._oom_killed:
            return SandboxOutOfMemory(self._memory_mb)
        if unread:
            return SandboxUnused(
                f"sandbox had ended before it read the request: {self.exit_description()}"
            )
        return SandboxError(f"sandbox crashed: {exc}; {self.exit_description()}")

    def exit_description(self) -> str:
        """How the child ended, e.g. ``exit code 3`` or ``killed by signal SIGKILL``."""
        code = self._returncode
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    async def kill(self) -> None:
        """Kill the child's whole process tree, wait for its keeper to exit, and release its
        pipes, scratch directory and uid. Idempotent.

        The child is asked to end through its keeper (SIGTERM), which exits only once every
        process of the runner is gone (with the sandbox's PID namespace when confined, even
        those that left the process group); if that takes more than half the grace, the group
        is sent SIGKILL. The zygote reaps the keeper; this waits briefly for that too, so the
        pid is normally free (not a zombie) when it returns.

        Cancellation: shielded, bounded by :data:`KILL_GRACE`; completes under a cancel.
        """
        # One kill at a time: a second one waits for the first, then finds nothing to do.
        with trio.CancelScope(shield=True):
            async with self._kill_lock:
                with trio.move_on_after(KILL_GRACE):
                    await self._end()
                self._close()

    async def _end(self) -> None:
        """Signal the child until its keeper has exited, then wait for the zygote to reap it.

        Cancellation: stops where it is (:meth:`kill` bounds and shields it).
        """
        if self._closed:
            return
        if not self._exited():
            with trio.move_on_after(KILL_GRACE / 2):
                self._signal(signal.SIGTERM)
                await self._reap()
        if not self._exited():
            self._signal(signal.SIGKILL)
            try:
                # The keeper is still there, so its process group still exists.
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self._reap()
        with trio.move_on_after(_REAPED_GRACE):
            await self._wait_reaped()
        await self._wait_empty()

    def _close(self) -> None:
        """Release the pipes, pidfd, scratch directory and, if the keeper exited, the uid."""
        if self._closed:
            return
        self._closed = True
        # Stop reading stderr now: a grandchild may hold the pipe open forever.
        self._stderr.close()
        self._channel.close()
        os.close(self._status_fd)
        trio.lowlevel.notify_closing(self._pidfd)
        os.close(self._pidfd)
        if self._trash is not None:
            self._trash.discard(self._home)
        elif not remove_tree(self._home):
            log.warning("scratch directory %s left behind", self._home)
        if self._cgroup is not None:
            self._oom_killed = self._cgroup.oom_killed()
            self._cgroup.remove()  # stays, as does the uid below, if a process is left in it
        if self._uid is not None and self._returncode is not None:
            # Kept (never reused) if the keeper did not exit: something of the sandbox
            # may still run as that uid.
            self._uid.release()

    async def drain_stderr(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Copy the child's stderr into its capped log buffer until EOF or :meth:`kill`.

        Cancellation: stops at once; :meth:`kill` reads what is left without waiting.
        """
        await self._stderr.run(task_status=task_status)

    def _signal(self, signum: int) -> None:
        try:
            signal.pidfd_send_signal(self._pidfd, signum)
        except ProcessLookupError:
            pass  # exited and reaped meanwhile

    def _exited(self) -> bool:
        """Whether the keeper has exited (checked without blocking); collects the status."""
        if self._returncode is None:
            poller = select.poll()  # not select.select: the fd may be over FD_SETSIZE
            poller.register(self._pidfd, select.POLLIN)
            if poller.poll(0):
                self._collect()
        return self._returncode is not None

    def _collect(self) -> None:
        """Read how the runner ended, once the keeper has exited (so its report is written)."""
        try:
            report = os.read(self._status_fd, _STATUS_BYTES)
        except BlockingIOError:
            report = b""
        try:
            if len(report) != _STATUS_BYTES:
                raise ValueError("no status")
            self._returncode = os.waitstatus_to_exitcode(int.from_bytes(report, "big"))
        except ValueError:
            self._returncode = -signal.SIGKILL  # the keeper was killed before it could report

    async def _reap(self) -> None:
        """Wait for the keeper's exit and collect the runner's status.

        Cancellation: stops waiting; the child is left as it was (callers bound and shield it).
        """
        async with self._reap_lock:
            if self._returncode is None and not self._closed:
                try:
                    await trio.lowlevel.wait_readable(self._pidfd)
                except trio.ClosedResourceError:
                    return  # a kill gave up on it and closed it meanwhile
                self._collect()

    async def _wait_empty(self) -> None:
        """Wait until no process of the sandbox is left (none in its cgroup, none running as
        its uid): its keeper may have been killed (or fooled) before its namespace was gone,
        and neither may be released with anything of the sandbox left (what a cgroup still
        holds is killed here; :meth:`.UidClaim.release` kills and holds back what it finds).

        Cancellation: stops waiting; nothing else changes.
        """
        while True:
            if self._cgroup is not None:
                left = bool(self._cgroup.kill())
            else:
                # A walk of /proc: in a thread, so many processes on the host do not
                # stall the event loop at every sandbox's end.
                uid = self._uid.uid if self._uid is not None else None
                left = uid is not None and bool(
                    await trio.to_thread.run_sync(processes_of_uid, uid)
                )
            if not left:
                return
            await trio.sleep(0.005)  # no event tells: the processes are not ours

    async def _wait_reaped(self) -> None:
        """Wait until the zygote has reaped the exited keeper: signal 0 reaches a zombie,
        not a reaped process. The pidfd is readable from the exit on, so it cannot tell.

        Cancellation: stops waiting; nothing else changes.
        """
        while not self._closed:
            try:
                signal.pidfd_send_signal(self._pidfd, 0)
            except ProcessLookupError:
                return
            await trio.sleep(0.001)
