"""Nonblocking sends and a receive loop for one ZeroMQ socket, on trio, without threads.

How trio waits on ZeroMQ: a socket's ``zmq.FD`` is edge-triggered — it signals that the
socket's state *may* have changed, and any send, receive or ``EVENTS`` read can consume that
signal. So exactly one task (the socket's reader) ever waits on the FD, every operation is
``NOBLOCK``, ``EVENTS`` is checked before each wait, and a send from another task checks
``EVENTS`` afterwards: when input became ready meanwhile, a send made while
:meth:`SocketIO.receive_forever` runs hands that input to its callback itself (the reader's
wait then needs no cancel scope of its own: one less per message), and a send beside
:meth:`SocketIO.receive` wakes the waiting reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import trio
import zmq

from .retry import Backoff

__all__ = ["SocketIO", "Unroutable"]

# Backoff while a send cannot proceed (peer not connected yet, or its queue is full).
_SEND_BACKOFF_FIRST = 0.002
_SEND_BACKOFF_MAX = 0.1


class Unroutable(Exception):
    """A ROUTER has no connection to the peer a message is addressed to."""


# A plain int: ``zmq.POLLIN`` is an enum flag, whose ``&`` is a Python call on every check.
_POLLIN = int(zmq.POLLIN)


def _readable(sock: zmq.Socket[bytes]) -> bool:
    events = sock.getsockopt(zmq.EVENTS)
    assert isinstance(events, int)
    return bool(events & _POLLIN)


class SocketIO:
    """Nonblocking sends and a receive loop for one ZeroMQ socket, on trio."""

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self.sock = sock
        self._fd = int(sock.getsockopt(zmq.FD))
        self._wait_scope: trio.CancelScope | None = None
        #: The callback of :meth:`receive_forever` while it runs.
        self._on_frames: Callable[[list[bytes]], None] | None = None
        #: Whether messages are being handed to ``_on_frames`` (a send made by the callback
        #: itself leaves the rest to the loop already running).
        self._draining = False

    def try_send(self, frames: Sequence[bytes | bytearray]) -> bool:
        """Send at once if the socket can take the message; False if it cannot.

        Raises:
            Unroutable: a ROUTER has no peer of that identity (it is gone).
        """
        try:
            self.sock.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                raise Unroutable() from None
            raise
        finally:
            self._take_input_if_readable()
        return True

    async def send(self, frames: Sequence[bytes | bytearray]) -> None:
        """Send, retrying with backoff while the socket cannot take the message.

        Raises:
            Unroutable: as :meth:`try_send`.

        Cancellation: waits only while the peer is unreachable; a cancel leaves nothing sent.
        """
        backoff = Backoff(_SEND_BACKOFF_FIRST, _SEND_BACKOFF_MAX)
        while not self.try_send(frames):
            await backoff.sleep()

    def _take_input_if_readable(self) -> None:
        # The send may have consumed the FD's edge while input was arriving: the reader would
        # not be woken for it, so take it now (or wake a reader of :meth:`receive`).
        if self._on_frames is not None:
            if not self._draining:
                self._drain(self._on_frames)
        elif self._wait_scope is not None and _readable(self.sock):
            self._wait_scope.cancel()

    def _drain(self, on_frames: Callable[[list[bytes]], None]) -> None:
        """Hand every message the socket holds now to ``on_frames``, in order."""
        sock = self.sock
        self._draining = True
        try:
            # EVENTS before each receive: a receive that finds nothing raises zmq.Again, which
            # costs more than the check, once per wakeup of every socket.
            while _readable(sock):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    continue
                on_frames(frames)
        finally:
            self._draining = False

    async def receive_forever(self, on_frames: Callable[[list[bytes]], None]) -> None:
        """Call ``on_frames`` for every message received, in order, forever. A message that
        arrives while another task sends on the socket may be handed to ``on_frames`` from
        that task's :meth:`try_send` (``on_frames`` must not raise, and may send).

        Cancellation: the only wait is on the socket's FD; a cancel stops the loop at once.
        """
        self._on_frames = on_frames
        try:
            while True:
                self._drain(on_frames)
                await trio.lowlevel.wait_readable(self._fd)
        finally:
            self._on_frames = None

    async def receive(self) -> list[bytes]:
        """The next message, for a reader that handles one message at a time.

        Cancellation: the only wait is on the socket's FD; a cancel leaves the message unread.
        """
        while True:
            try:
                return self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                pass
            if not _readable(self.sock):
                await self._wait_readable()

    def notify_closing(self) -> None:
        """Tell trio the socket is about to be closed (wakes a wait on it)."""
        trio.lowlevel.notify_closing(self._fd)

    async def _wait_readable(self) -> None:
        """Wait for the FD's edge; a send meanwhile that finds input ready ends the wait."""
        with trio.CancelScope() as scope:
            self._wait_scope = scope
            try:
                await trio.lowlevel.wait_readable(self._fd)
            finally:
                self._wait_scope = None
