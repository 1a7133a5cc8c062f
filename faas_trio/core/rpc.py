"""Request/reply between components: pyzmq driven by trio, without threads.

A :class:`Client` is one ZeroMQ DEALER socket connected to one peer; any number of tasks may
call through it at once, each request tagged with its own id so that replies find their
caller. :func:`serve_rpc` binds a ROUTER socket and runs a handler task per request, so a
handler may hold its reply (a long poll) without blocking the others.

Sockets are driven by :class:`.socket_io.SocketIO` (one reader task per socket).

A reply whose peer is gone (its connection closed: the process died, or it reconnected
under a new identity) cannot be routed; the ROUTER reports it (``ROUTER_MANDATORY``) and
:func:`serve_rpc` hands the request and its reply to its ``on_undelivered`` callback, so a
server can take back what the reply gave away (a job dispatched to a dead worker) at once.

Every socket uses CurveZMQ when the process has an identity (:mod:`.curve`): a client then
names the role of the server it connects to (``peer``), and each server has a ZeroMQ context
of its own whose ZAP handler, a task beside the server, lets in only allowed clients.

Only this module, :mod:`.socket_io` and :mod:`.curve` import :mod:`zmq`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Literal, TypeVar, cast

import trio
import zmq

from . import curve
from .config import ConfigError
from .errors import FaasError, PeerUnavailable, ProtocolError, error_from_code
from .messages import ErrorReply, Message, Request, reply_types
from .retry import Backoff
from .socket_io import SocketIO, Unroutable
from .wire import (
    HEADER_SIZE,
    decode_body,
    encode_message,
    encode_reply,
    split_message,
)

__all__ = ["DEFAULT_TIMEOUT", "Client", "Handler", "open_client", "serve_rpc"]

#: The ceiling on any request that does not set its own timeout, seconds.
DEFAULT_TIMEOUT = 10.0

Handler = Callable[[Message], Awaitable[Message]]
#: Called with a request and its reply when the reply could not be delivered.
Undelivered = Callable[[Message, Message], None]

R = TypeVar("R")

log = logging.getLogger("faas.rpc")

# Messages a socket may queue per peer before sends would block; generous, because the
# queue limits live in jqmanager, not here.
_HIGH_WATER_MARK = 100_000
# How long a reply may wait for a peer whose queue is full before it counts as undelivered.
_REPLY_SEND_TIMEOUT = 10.0


class _PendingCall:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: memoryview | None = None


class Client:
    """A connection to one peer. Made by :func:`open_client`; safe to share between tasks."""

    def __init__(self, sock: zmq.Socket[bytes], endpoint: str, name: str) -> None:
        self._io = SocketIO(sock)
        self._endpoint = endpoint
        self._name = name
        self._pending: dict[int, _PendingCall] = {}
        self._request_ids = itertools.count(1)

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def _on_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            log.warning("%s: dropped a reply of %d frames", self._name, len(frames))
            return
        try:
            request_id, body = split_message(frames[0])
        except ProtocolError as exc:
            log.warning("%s: dropped a reply: %s", self._name, exc)
            return
        pending = self._pending.pop(request_id, None)
        if pending is not None:  # else: a reply that came after its caller gave up
            pending.reply = body
            pending.done.set()

    # The ceiling lives here, not only at call sites, so that no request can hang forever.
    async def call(self, request: Request[R], *, timeout: float = DEFAULT_TIMEOUT) -> R:
        """Send ``request`` and return the peer's reply, of the type the request names.

        Raises:
            PeerUnavailable: no reply within ``timeout`` seconds (peer down or slow).
            ProtocolError: the reply could not be decoded, or is not of the request's reply
                type (the one place a reply's type is checked).
            FaasError: the peer answered an ``ErrorReply``; the subclass matches its code.

        Cancellation: blocks until the reply; a cancel forgets the request (a late reply is
        dropped) and leaves the client usable.
        """
        request_id = next(self._request_ids)
        pending = _PendingCall()
        self._pending[request_id] = pending
        frames = [encode_message(request_id, request)]
        try:
            with trio.move_on_after(timeout):
                if not self._io.try_send(frames):
                    await self._io.send(frames)
                await pending.done.wait()
        finally:
            self._pending.pop(request_id, None)
        if pending.reply is None:
            raise PeerUnavailable(
                f"{self._name}: no answer from {self._endpoint} to "
                f"{type(request).__name__} within {timeout:g} s"
            )
        reply = decode_body(pending.reply)
        if isinstance(reply, ErrorReply):
            raise error_from_code(reply.code, reply.message, reply.retry_after)
        expected = reply_types(type(request))
        if not isinstance(reply, expected):
            raise ProtocolError(
                f"{self._name}: answered {type(reply).__name__} to "
                f"{type(request).__name__}, expected {' or '.join(t.__name__ for t in expected)}"
            )
        return cast(R, reply)

    async def call_retrying(
        self, request: Request[R], *, deadline: float, attempt_timeout: float = 1.0
    ) -> R:
        """Like :meth:`call`, but resends after each ``attempt_timeout`` with backoff until
        ``deadline`` seconds have passed. Only for idempotent requests.

        Raises:
            PeerUnavailable: no attempt was answered before the deadline.

        Cancellation: as :meth:`call`.
        """
        # Each attempt is bounded by what is left of the deadline, and so is each pause
        # (Backoff.sleep gives up when a pause would pass it): no scope around the loop.
        backoff = Backoff(0.05, 1.0, deadline=deadline)
        while (remaining := backoff.remaining()) > 0:
            try:
                return await self.call(request, timeout=min(attempt_timeout, remaining))
            except PeerUnavailable:
                if not await backoff.sleep():
                    break
        raise PeerUnavailable(
            f"{self._name}: {self._endpoint} did not answer {type(request).__name__} "
            f"within {deadline:g} s"
        )


def _configure(sock: zmq.Socket[bytes]) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, _HIGH_WATER_MARK)
    sock.setsockopt(zmq.RCVHWM, _HIGH_WATER_MARK)


async def _bind(sock: zmq.Socket[bytes], endpoint: str, *, patience: float = 5.0) -> None:
    """Bind, retrying for ``patience`` seconds while the address is in use: ZeroMQ closes a
    listener in its I/O thread, so a server restarted at once may find its port still taken.

    Raises:
        OSError: the endpoint cannot be bound (malformed, or still in use after the wait).
    """
    backoff = Backoff(0.01, 0.25, deadline=patience)
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE:
                raise OSError(f"cannot bind {endpoint}: {exc}") from exc
        if not await backoff.sleep():
            break
    raise OSError(f"cannot bind {endpoint}: address still in use after {patience:g} s")


@asynccontextmanager
async def open_client(
    endpoint: str,
    *,
    name: str = "client",
    peer: str | None = None,
    identity: curve.CurveIdentity | None | Literal["installed"] = "installed",
) -> AsyncIterator[Client]:
    """Connect to the ROUTER at ``endpoint`` (e.g. ``tcp://127.0.0.1:27444``), the server of
    the ``peer`` role (``dbmanager``, ``jqmanager``, ``supervisor``), whose public key a
    CurveZMQ client needs. ``identity``: the process's (:func:`.curve.install`) unless given.

    Raises:
        ConfigError: CurveZMQ is on and ``peer`` is not given or has no known key.

    Connecting never fails: ZeroMQ reconnects in the background with backoff (100 ms growing
    to 2 s), and a request made while the peer is down waits for it until its timeout. On
    exit the reader task is cancelled and the socket closed; pending calls fail.
    """
    if identity == "installed":
        identity = curve.installed()
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    try:
        _configure(sock)
        if identity is not None:
            if peer is None:
                raise ConfigError(f"{name}: a CurveZMQ client must name its server's role")
            curve.configure_client(sock, identity, peer)
        # Queue nothing for a peer that is not connected: a request sent while it is down
        # waits in our backoff (bounded by its timeout) instead of arriving stale later.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        sock.connect(endpoint)
        client = Client(sock, endpoint, name)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._io.receive_forever, client._on_frames)
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()
    finally:
        sock.close(linger=0)


async def serve_rpc(
    endpoint: str,
    handler: Handler,
    *,
    name: str = "server",
    on_undelivered: Undelivered | None = None,
    identity: curve.CurveIdentity | None | Literal["installed"] = "installed",
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` at ``endpoint``; see :func:`_serve_router`. With CurveZMQ on (the
    process's ``identity``, :func:`.curve.install`, unless given), the server gets a context
    of its own, whose ZAP handler runs beside it and is bound before the server, so that no
    connection is let in unchecked.

    Cancellation: as :func:`_serve_router`; the context and its handler go with it.
    """
    if identity == "installed":
        identity = curve.installed()
    if identity is None:
        await _serve_router(
            zmq.Context.instance(), None, endpoint, handler, name, on_undelivered, task_status
        )
        return
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(curve.serve_zap, context, identity)
            await _serve_router(
                context, identity, endpoint, handler, name, on_undelivered, task_status
            )
    finally:
        context.destroy(linger=0)


async def _serve_router(
    context: zmq.Context[zmq.Socket[bytes]],
    identity: curve.CurveIdentity | None,
    endpoint: str,
    handler: Handler,
    name: str,
    on_undelivered: Undelivered | None,
    task_status: trio.TaskStatus[str],
) -> None:
    """Bind a ROUTER at ``endpoint`` (``tcp://host:*`` picks a free port) and serve requests.

    Calls ``task_status.started(bound_endpoint)`` once bound, with the actual
    ``tcp://host:port``. Each request runs ``handler`` in its own task. A handler that raises
    ``FaasError`` answers an ``ErrorReply`` with its code; any other exception is logged and
    answered as ``internal``; an undecodable request is answered as ``protocol``. Never
    crashes on input. A reply that cannot be delivered (its peer is gone, or took nothing
    for ``_REPLY_SEND_TIMEOUT`` s) is passed with its request to ``on_undelivered``.

    Cancellation: runs until cancelled; then cancels in-flight handlers (their callers time
    out) and closes the socket.
    """
    sock: zmq.Socket[bytes] = context.socket(zmq.ROUTER)
    try:
        _configure(sock)
        if identity is not None:
            curve.configure_server(sock, identity)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        await _bind(sock, endpoint)
        bound = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        io = SocketIO(sock)

        async def answer(identity: bytes, header: bytes, request: Message) -> None:
            try:
                reply = await handler(request)
            except FaasError as exc:
                reply = ErrorReply(code=exc.code, message=exc.message, retry_after=exc.retry_after)
            except Exception:
                log.exception("%s: handling %s failed", name, type(request).__name__)
                reply = ErrorReply(
                    code="internal", message=f"{name} failed on {type(request).__name__}"
                )
            frames: list[bytes | bytearray] = [identity, encode_reply(header, reply)]
            try:
                if io.try_send(frames):
                    return
                # Only a reply the socket could not take at once needs a deadline.
                with trio.move_on_after(_REPLY_SEND_TIMEOUT):
                    await io.send(frames)
                    return
            except Unroutable:
                pass
            log.debug("%s: the reply to %s was not delivered", name, type(request).__name__)
            if on_undelivered is not None:
                try:
                    on_undelivered(request, reply)
                except Exception:
                    log.exception("%s: on_undelivered failed", name)

        def on_frames(frames: list[bytes]) -> None:
            if len(frames) != 2:
                log.warning("%s: dropped a request of %d frames", name, len(frames) - 1)
                return
            identity, frame = frames
            # A reply, even to a malformed request, goes under the request's own header.
            header = frame[:HEADER_SIZE]
            try:
                _, body = split_message(frame)
                request = decode_body(body)
            except ProtocolError as exc:
                error = ErrorReply(code=exc.code, message=exc.message)
                try:
                    io.try_send([identity, encode_reply(header, error)])
                except Unroutable:
                    pass
                return
            nursery.start_soon(answer, identity, header, request)

        async with trio.open_nursery() as nursery:
            task_status.started(bound)
            await io.receive_forever(on_frames)
    finally:
        sock.close(linger=0)
