"""The pipes of one runner child: request frames over its stdin and stdout, logs on its stderr.

The worker writes a :mod:`.protocol` request frame to the runner's stdin and reads its reply
frame from its stdout (one per item for a batch). Everything read is untrusted: a reply header over
:func:`.protocol.reply_cap` is refused without reading the body, a body that is not a
well-formed reply is refused (:func:`.protocol.parse_reply`), and bytes written while nothing
was asked are refused before the next request (they could be a forged answer to it). The
:class:`~.process.Sandbox` that owns the channel kills the child on any of these.
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import termios

import trio

from .logbuffer import LogBuffer
from .protocol import HEADER, ProtocolError, Reply, Request, encode_request, parse_reply, reply_cap

__all__ = ["ChildGone", "RunnerChannel", "StderrDrain"]

#: Bytes of stderr read in one go before the event loop gets a turn.
_STDERR_READ_BUDGET = 1 << 20


class ChildGone(Exception):
    """The protocol pipes show the child is gone or broken."""


class RunnerChannel:
    """The runner's stdin (requests) and stdout (replies), owned from construction on; one
    request at a time. Replies to a request are capped by ``log_cap`` (see
    :func:`.protocol.reply_cap`)."""

    def __init__(self, stdin_fd: int, stdout_fd: int, log_cap: int) -> None:
        self._stdin = trio.lowlevel.FdStream(stdin_fd)
        self._stdout = trio.lowlevel.FdStream(stdout_fd)
        self._stdout_fd = self._stdout.fileno()
        #: Bytes read and not yet taken: ``_buffer[_taken:]``.
        self._buffer = bytearray()
        self._taken = 0
        self._log_cap = log_cap
        self._closed = False

    @property
    def quiet(self) -> bool:
        """False when the child wrote on its reply pipe (or closed it) while nothing was
        asked, or the channel is closed. Checked without blocking."""
        if self._closed:
            return False
        poller = select.poll()
        poller.register(self._stdout_fd, select.POLLIN)
        return len(self._buffer) == self._taken and not poller.poll(0)

    async def exchange(self, request: Request) -> Reply:
        """:meth:`send` a request, then :meth:`receive` its reply.

        Raises:
            ProtocolError, ChildGone: as those do.

        Cancellation: may leave a partial frame in a pipe; the caller then kills the child.
        """
        await self.send(request)
        return await self.receive(request)

    async def send(self, request: Request) -> None:
        """Write a request frame, once the reply pipe is checked empty.

        Raises:
            ProtocolError: the child had written something before it was asked.
            ChildGone: its pipes closed.

        Cancellation: may leave a partial frame in the pipe; the caller then kills the child.
        """
        self._check_quiet()
        try:
            await self._stdin.send_all(encode_request(request))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ChildGone("its pipes closed") from exc

    async def receive(self, request: Request) -> Reply:
        """Read the next reply frame to ``request`` (one item's, for a batch), of at most its
        :func:`.protocol.reply_cap`.

        Raises:
            ProtocolError: the reply is over its cap (its body is not read) or malformed.
            ChildGone: its pipes closed.

        Cancellation: bytes already read stay buffered; the caller then kills the child.
        """
        try:
            (length,) = HEADER.unpack(await self._read_exactly(HEADER.size))
            cap = reply_cap(request, self._log_cap)
            if length > cap:
                raise ProtocolError(
                    f"a reply of {length} bytes is over the limit of {cap} bytes for this"
                    " request (FAAS_RESULT_CAP and FAAS_LOG_CAP set it)"
                )
            return parse_reply(await self._read_exactly(length), request)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ChildGone("its pipes closed") from exc

    def unread_request_bytes(self) -> int:
        """Bytes still in the child's request pipe (so never read by it); 0 once closed."""
        count = array.array("i", [0])
        if self._closed:
            return 0
        try:
            fcntl.ioctl(self._stdin.fileno(), termios.FIONREAD, count)
        except (OSError, ValueError):
            return 0
        return count[0]

    def close(self) -> None:
        """Close both pipes. Idempotent."""
        self._closed = True
        self._stdin.close()
        self._stdout.close()

    def _check_quiet(self) -> None:
        """Raise unless the reply pipe is empty: a frame no request asked for may be a forged
        answer to the next one.

        Raises:
            ProtocolError: it holds bytes.
            ChildGone: it is closed.
        """
        if self.quiet:
            return
        try:
            data = bytes(self._buffer[self._taken :]) or os.read(self._stdout_fd, 1)
        except BlockingIOError:
            return
        if not data:
            raise ChildGone("it closed its output")
        raise ProtocolError("it wrote on its reply pipe when nothing was asked")

    async def _read_exactly(self, size: int) -> bytes:
        """The next ``size`` bytes of the reply pipe. Reads what is there (up to 64 KiB past
        them), so replies that came together (a batch's) cost one read.

        Cancellation: bytes already read stay buffered (only :meth:`receive` reads).
        """
        buffer = self._buffer
        while len(buffer) - self._taken < size:
            if self._taken:
                del buffer[: self._taken]
                self._taken = 0
            chunk = await self._stdout.receive_some(max(size - len(buffer), 65536))
            if not chunk:
                raise ChildGone("it closed its output")
            buffer += chunk
        start = self._taken
        data = bytes(buffer[start : start + size])
        self._taken = start + size
        if self._taken == len(buffer):
            buffer.clear()
            self._taken = 0
        return data


class StderrDrain:
    """The child's stderr (owned from construction on), read into a :class:`LogBuffer` of
    ``log_cap`` bytes as it comes."""

    def __init__(self, fd: int, log_cap: int) -> None:
        self._fd: int | None = fd
        self._buffer = LogBuffer(log_cap)
        self._scope = trio.CancelScope()

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Read the pipe as it becomes readable, until EOF or :meth:`close`.

        Cancellation: stops at once; :meth:`close` reads what is left without waiting.
        """
        with self._scope:
            task_status.started()
            while self._fd is not None:
                try:
                    await trio.lowlevel.wait_readable(self._fd)
                except trio.ClosedResourceError:
                    return
                if not self._read_available():
                    return

    def take(self) -> str:
        """What the child wrote since the last take (capped), including what is still in the
        pipe: output written before a reply is never missed."""
        self._read_available()
        return self._buffer.take()

    def close(self) -> None:
        """Stop :meth:`run` (a grandchild may hold the pipe open forever), keep what is in
        the pipe for the last :meth:`take`, and close it. Idempotent."""
        self._scope.cancel()
        self._read_available()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)

    def _read_available(self, budget: int = _STDERR_READ_BUDGET) -> bool:
        """Read what is in the pipe without blocking, at most ``budget`` bytes (a sandbox
        writing without pause must not hold the event loop); False at EOF."""
        while self._fd is not None and budget > 0:
            budget -= 65536
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._buffer.add(data)
        return self._fd is not None
