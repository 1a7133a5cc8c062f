"""Request/reply between components: pyzmq driven by trio, without threads.

A :class:`Client` is one ZeroMQ DEALER socket connected to one peer; any number of tasks may
call through it at once, each request tagged with its own id so that replies find their
caller. :func:`serve_rpc` binds a ROUTER socket and runs a handler task per request, so a
handler may hold its reply (a long poll) without blocking others.

Only this module imports :mod:`zmq`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from .messages import Message

__all__ = ["DEFAULT_TIMEOUT", "Client", "Handler", "open_client", "serve_rpc"]

#: The ceiling on any request that does not set its own timeout, seconds.
DEFAULT_TIMEOUT = 10.0

Handler = Callable[[Message], Awaitable[Message]]


class Client:
    """A connection to one peer. Made by :func:`open_client`."""

    async def call(self, request: Message, *, timeout: float = DEFAULT_TIMEOUT) -> Message:
        """Send ``request`` and return the peer's reply.

        Raises:
            PeerUnavailable: no reply within ``timeout`` seconds (peer down or slow).
            FaasError: the peer answered an ``ErrorReply``; the subclass matches its code.

        Cancellation: blocks until the reply; a cancel forgets the request (a late reply is
        dropped) and leaves the client usable.
        """
        raise NotImplementedError

    async def call_retrying(
        self, request: Message, *, deadline: float, attempt_timeout: float = 1.0
    ) -> Message:
        """Like :meth:`call`, but resends after each ``attempt_timeout`` with backoff until
        ``deadline`` seconds have passed. Only for idempotent requests.

        Raises:
            PeerUnavailable: no attempt was answered before the deadline.
        """
        raise NotImplementedError


@asynccontextmanager
async def open_client(endpoint: str, *, name: str = "client") -> AsyncIterator[Client]:
    """Connect to the ROUTER at ``endpoint`` (e.g. ``tcp://127.0.0.1:27444``).

    Connecting never fails: ZeroMQ reconnects in the background with backoff, and requests
    sent while the peer is down wait for it until their timeout. On exit the socket is closed.
    """
    raise NotImplementedError
    yield  # pragma: no cover


async def serve_rpc(
    endpoint: str,
    handler: Handler,
    *,
    name: str = "server",
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Bind a ROUTER at ``endpoint`` (``tcp://host:*`` picks a free port) and serve requests.

    Calls ``task_status.started(bound_endpoint)`` once bound, with the actual
    ``tcp://host:port``. Each request runs ``handler`` in its own task. A handler that raises
    ``FaasError`` answers an ``ErrorReply`` with its code; any other exception is logged and
    answered as ``internal``; an undecodable request is answered as ``protocol``. Never
    crashes on input.

    Cancellation: runs until cancelled; then cancels in-flight handlers and closes the socket.
    """
    raise NotImplementedError
