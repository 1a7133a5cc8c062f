"""The two components the frontend talks to, and typed calls to them.

A request handler never opens a connection: the clients are opened once by ``serve`` and
shared by every request. Each call has a deadline, so a neighbour that is down costs a request
at most ``rpc_timeout`` (plus its ``wait``) before it answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ..core.errors import FaasError
from ..core.messages import ForgetFunctions, Ping, Request
from ..core.rpc import Client

__all__ = ["Peers"]

R = TypeVar("R")


@dataclass(frozen=True)
class Peers:
    """Clients of dbmanager and jqmanager, plus the per-call deadline."""

    db: Client
    jq: Client
    #: Seconds a call may take beyond any ``wait`` it asks the peer to hold.
    rpc_timeout: float

    async def ask_db(self, request: Request[R], *, wait: float = 0.0) -> R:
        """Send ``request`` to dbmanager and return its reply (of the request's reply type);
        the dbmanager may hold it up to ``wait`` seconds (``WaitBuild``).

        Raises:
            PeerUnavailable: no answer within ``rpc_timeout``.
            FaasError: dbmanager answered this error (NotFound, BadRequest…).
            ProtocolError: dbmanager answered a reply of another type.

        Cancellation: blocks until the reply; a cancel abandons the request.
        """
        return await self.db.call(request, timeout=wait + self.rpc_timeout)

    async def ask_jq(self, request: Request[R], *, wait: float = 0.0) -> R:
        """Send ``request`` to jqmanager, which may hold it up to ``wait`` seconds.

        Raises:
            PeerUnavailable: no answer within ``wait + rpc_timeout``.
            FaasError: jqmanager answered this error.
            ProtocolError: jqmanager answered a reply of another type.

        Cancellation: blocks until the reply; a cancel abandons the request (the job it
        submitted, if any, stays submitted).
        """
        return await self.jq.call(request, timeout=wait + self.rpc_timeout)

    async def forget_functions(self, user: str, name: str | None = None) -> None:
        """Tell the jqmanager that ``user``'s function ``name`` (all when None) changed, so it
        starts no later call with the old one before the store confirms it; never raises for a
        peer failure (the jqmanager checks what the store answers in any case).

        Cancellation: blocks up to ``rpc_timeout``; a cancel abandons the message.
        """
        try:
            await self.jq.call(ForgetFunctions(user, name), timeout=self.rpc_timeout)
        except FaasError:
            pass

    async def ping(self, client: Client) -> bool:
        """Whether the peer behind ``client`` answers a Ping within ``rpc_timeout``; never
        raises for a peer failure.

        Cancellation: blocks up to ``rpc_timeout``; a cancel abandons the ping.
        """
        try:
            await client.call(Ping(), timeout=self.rpc_timeout)
        except FaasError:
            return False
        return True
