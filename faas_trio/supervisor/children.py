"""One supervised child process: spawn it, prefix its output, restart it when it dies.

Process groups. Every child starts in a session and process group of its own
(``start_new_session=True``, so its group id is its pid). A stop sends SIGTERM to the role
process alone, so it can stop its own subprocesses in order; SIGKILL, when the grace runs
out, goes to the whole group. A Ctrl-C on the terminal reaches only the supervisor, which
then stops the tree itself.

Dying with the supervisor. If the supervisor is killed outright (SIGKILL, the OOM killer)
no cleanup of ours runs, so each child asks the kernel to kill it when its parent dies:
:func:`die_with_parent`, which ``faas-trio <role>`` calls first thing when
``FAAS_SUPERVISOR_PID`` is set, calls ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` and then checks
that its parent is still that pid, which closes the race where the supervisor died before the
``prctl``. Two details make this reliable:

- The kernel sends the death signal when the *thread* that forked the child exits, not the
  process. ``trio.lowlevel.open_process`` forks from a worker thread of trio's thread cache,
  and those threads exit when idle, which would kill children at random (``setpriv
  --pdeathsig`` has the same flaw). So the supervisor forks with :class:`subprocess.Popen`
  from the trio thread, which lives as long as the supervisor, and waits for the exit
  through a pidfd, which trio's event loop watches like any other file descriptor.
- The ``prctl`` runs in the child's own Python startup, not in ``preexec_fn``: running Python
  between ``fork`` and ``exec`` is unsafe in a process that has threads.

The death signal reaches the role process only; a role that starts long-lived subprocesses
of its own should make them die with it the same way.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

import trio

from ..core.retry import Backoff

__all__ = [
    "SUPERVISOR_PID_VAR",
    "Child",
    "Emit",
    "RestartDelays",
    "die_with_parent",
    "write_stdout",
]

log = logging.getLogger("faas.supervisor")

#: Set in each child's environment to the supervisor's pid; consumed by :func:`die_with_parent`.
SUPERVISOR_PID_VAR = "FAAS_SUPERVISOR_PID"

#: Receives a batch of finished output lines, already prefixed with the child's name.
Emit = Callable[[list[str]], None]

_PR_SET_PDEATHSIG = 1
_READ_CHUNK = 65536
#: A line longer than this is cut and printed in pieces, so a child cannot grow our memory.
_MAX_LINE = 16384
#: How long output still in the pipe may take to be printed once the child is gone.
_OUTPUT_DRAIN_TIMEOUT = 0.2
#: How long a process may take to die after SIGKILL.
_KILL_TIMEOUT = 0.2


def die_with_parent() -> None:
    """In a child of the supervisor, make the kernel SIGKILL this process when the supervisor
    dies. Does nothing when ``FAAS_SUPERVISOR_PID`` is unset.

    The variable is removed from ``os.environ``, so this process's own children do not
    inherit it. Raises ``SystemExit`` when the supervisor is already gone.
    """
    expected = os.environ.pop(SUPERVISOR_PID_VAR, "")
    if not expected:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if str(os.getppid()) != expected:
        raise SystemExit(f"faas-trio: the supervisor (pid {expected}) is gone")


def write_stdout(lines: list[str]) -> None:
    """The default :data:`Emit`: print the lines on our stdout."""
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


class RestartDelays:
    """Delays between restarts: ``initial``, doubling up to ``maximum`` (no jitter: one
    supervisor restarts its own children); a child that stayed up ``stable_after`` seconds or
    more starts the sequence again."""

    def __init__(self, initial: float, maximum: float, stable_after: float) -> None:
        self._backoff = Backoff(initial, maximum, jitter=0.0)
        self.stable_after = stable_after

    def delay_after(self, uptime: float) -> float:
        """The delay before restarting a child that exited after ``uptime`` seconds."""
        if uptime >= self.stable_after:
            self._backoff.reset()
        return self._backoff.next_delay()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:  # the group is already empty
        pass


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "could not be started"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Child:
    """One role process, kept running by :meth:`run` until it is retired or cancelled.

    ``name`` prefixes every line the child prints (``worker.2 | …``); stdout and stderr are
    merged. ``grace`` is how long a stop waits after SIGTERM before SIGKILL.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        backoff: RestartDelays,
        grace: float,
        emit: Emit = write_stdout,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._env = dict(env)
        self._backoff = backoff
        self._grace = grace
        self._emit = emit
        self._scope = trio.CancelScope()
        self._retired = False
        self._stop_cap = float("inf")
        self._stop_scope: trio.CancelScope | None = None
        #: The pid of the running process, or None between runs.
        self.pid: int | None = None
        #: How many times the child was restarted after an unexpected exit.
        self.restarts = 0
        #: Set once :meth:`run` is over: the child was retired (or cancelled) and is reaped.
        self.stopped = trio.Event()

    def retire(self, grace: float) -> None:
        """Stop for good: SIGTERM now, SIGKILL to its group after ``grace`` seconds.
        :meth:`run` returns once the process is reaped. Idempotent."""
        if not self._retired:
            self._retired = True
            self._grace = grace
            self._scope.cancel()

    def hurry(self, deadline: float) -> None:
        """Make any stop, including one already under way, SIGKILL by ``deadline`` (trio
        time) at the latest."""
        self._stop_cap = min(self._stop_cap, deadline)
        if self._stop_scope is not None:
            self._stop_scope.deadline = min(self._stop_scope.deadline, deadline)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the child, restart it with backoff whenever it exits, and return once it is
        retired. ``task_status.started()`` is called after the first spawn attempt.

        Cancellation: blocks until the child is retired. A cancel (or :meth:`retire`) stops
        the running process: SIGTERM, up to ``grace`` seconds, SIGKILL to its process
        group, reaped, all shielded and bounded by ``grace`` + 0.4 s (+ 0.2 s for output
        still in the pipe). Before ``Cancelled`` propagates the process is reaped and every
        other member of its group has been sent SIGKILL.
        """
        try:
            with self._scope:
                while not self._retired:
                    began = trio.current_time()
                    spawned = self._spawn()
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED
                    code = None if spawned is None else await self._watch(*spawned)
                    uptime = trio.current_time() - began
                    delay = self._backoff.delay_after(uptime)
                    self.restarts += 1
                    log.warning(
                        "%s %s after %.3g s; restart %d in %.3g s",
                        self.name, _describe_exit(code), uptime, self.restarts, delay,
                    )
                    await trio.sleep(delay)
        finally:
            self.stopped.set()

    def _spawn(self) -> tuple[subprocess.Popen[bytes], trio.lowlevel.FdStream] | None:
        """Start the process (None if it cannot be), its stdout and stderr on one pipe."""
        read_fd, write_fd = os.pipe()
        try:
            # Popen, not trio.lowlevel.open_process: see the module docstring.
            proc = subprocess.Popen(
                self._argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(read_fd)
            log.error("%s: cannot start %s: %s", self.name, self._argv[0], exc)
            return None
        finally:
            os.close(write_fd)
        return proc, trio.lowlevel.FdStream(read_fd)

    async def _watch(self, proc: subprocess.Popen[bytes], output: trio.lowlevel.FdStream) -> int:
        """Print the output of one incarnation until it exits; reap it, return its exit code.

        Cancellation: as :meth:`run`; the output pump is shielded so that the child's last
        words are printed while it stops.
        """
        pidfd = os.pidfd_open(proc.pid)
        self.pid = proc.pid
        stopping = False
        try:
            async with trio.open_nursery() as nursery:
                pump_scope = trio.CancelScope(shield=True)
                pump_done = trio.Event()
                nursery.start_soon(self._pump, output, pump_scope, pump_done)
                try:
                    await _wait_exit(pidfd)
                except BaseException:
                    stopping = True
                    await self._stop(proc, pidfd)
                    raise
                finally:
                    # The role process is a zombie here, so its pid (the group id) cannot
                    # have been reused. Whatever it left in its group goes with it; that also
                    # closes the pipe's last write ends, so the pump sees end of file.
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.poll()
                    if stopping:
                        log.info("%s stopped: %s", self.name, _describe_exit(proc.returncode))
                    with trio.CancelScope(shield=True), trio.move_on_after(_OUTPUT_DRAIN_TIMEOUT):
                        await pump_done.wait()
                    pump_scope.cancel()
        finally:
            self.pid = None
            trio.lowlevel.notify_closing(pidfd)
            os.close(pidfd)
        assert proc.returncode is not None
        return proc.returncode

    async def _stop(self, proc: subprocess.Popen[bytes], pidfd: int) -> None:
        """SIGTERM the role process, wait up to the grace, then SIGKILL its group. Returns
        once the process has exited (not yet reaped), or after the bound.

        Cancellation: shielded, bounded by the grace plus the kill timeout.
        """
        grace = self._grace
        with trio.CancelScope(shield=True), trio.move_on_after(grace + 2 * _KILL_TIMEOUT):
            # os.kill, not proc.send_signal, which would reap an exited child too early.
            os.kill(proc.pid, signal.SIGTERM)
            deadline = min(trio.current_time() + grace, self._stop_cap)
            try:
                with trio.CancelScope(deadline=deadline) as self._stop_scope:
                    await _wait_exit(pidfd)
                    return
            finally:
                self._stop_scope = None
            log.warning("%s did not stop within %.1f s; killing it", self.name, grace)
            _signal_group(proc.pid, signal.SIGKILL)
            with trio.move_on_after(_KILL_TIMEOUT):
                await _wait_exit(pidfd)
                return
        log.error("%s (pid %d) survived SIGKILL", self.name, proc.pid)

    async def _pump(
        self, output: trio.lowlevel.FdStream, scope: trio.CancelScope, done: trio.Event
    ) -> None:
        """Print the child's output line by line until end of file or ``scope`` is cancelled.

        Cancellation: only through ``scope``; an unfinished last line is printed anyway.
        """
        prefix = f"{self.name} | "
        pending = b""
        try:
            with scope:
                async with output:
                    while chunk := await output.receive_some(_READ_CHUNK):
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        while len(pending) > _MAX_LINE:
                            lines.append(pending[:_MAX_LINE])
                            pending = pending[_MAX_LINE:]
                        if lines:
                            self._emit([prefix + _text(line) for line in lines])
        finally:
            if pending:
                self._emit([prefix + _text(pending)])
            done.set()


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")


async def _wait_exit(pidfd: int) -> None:
    """Wait until the process behind ``pidfd`` has exited; it is left for the caller to reap.

    Cancellation: blocks on the pidfd; a cancel changes nothing.
    """
    await trio.lowlevel.wait_readable(pidfd)
