"""Routes for users: register (reset), remove, and read the accumulated execution time."""

from __future__ import annotations

from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.messages import DeleteUser, Done, GetUser, PutUser, UserReply
from . import inputs
from .peers import Peers
from .responses import envelope

__all__ = ["register"]


def register(app: QuartTrio, peers: Peers) -> None:
    """Add the ``/u/<user>`` routes to ``app``."""

    @app.post("/u/<user>")
    async def put_user(user: str) -> TrioResponse:
        """Register ``user``; an existing user is reset (its functions dropped). res: 1.

        Cancellation: blocks on dbmanager; a cancel may leave the write done or not.
        """
        await peers.ask_db(PutUser(inputs.check_name("user", user)), Done)
        return envelope(1)

    @app.delete("/u/<user>")
    async def delete_user(user: str) -> TrioResponse:
        """Remove ``user`` and its functions. res: 1; 404 for an unknown user.

        Cancellation: blocks on dbmanager; a cancel may leave the write done or not.
        """
        await peers.ask_db(DeleteUser(inputs.check_name("user", user)), Done)
        return envelope(1)

    @app.get("/u/<user>/time")
    async def user_time(user: str) -> TrioResponse:
        """The user's accumulated execution time. res: milliseconds (a number).

        Cancellation: blocks on dbmanager; nothing changes.
        """
        reply = await peers.ask_db(GetUser(inputs.check_name("user", user)), UserReply)
        return envelope(reply.user.execution_time_ms)
