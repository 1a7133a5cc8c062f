"""Routes for users: register (reset), remove, read the execution time, list recent jobs.

In ``keys`` mode registering answers ``{"user", "api_key"}``: the only time the key is shown
(only its hash is stored). Who may register a new name, and how often, is
:mod:`.registration`'s policy; re-registering an existing user (which resets it and replaces
its key) needs that user's key or the admin key. In ``open`` mode registration answers 1, as
the old API did. Removing a user removes its jobs and their logs too, so whoever registers the
name next starts empty.
"""

from __future__ import annotations

from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.errors import Conflict, NotFound
from ..core.messages import DeleteUser, GetUser, ListJobs, PutUser
from ..core.public import public_record
from . import inputs
from .auth import Auth, hash_key, new_key
from .peers import Peers
from .registration import Registration
from .responses import envelope

__all__ = ["DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "register"]

#: Jobs ``GET /u/<user>/jobs`` answers without ``?limit=``, and at most.
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 1000


def register(app: QuartTrio, peers: Peers, auth: Auth, registration: Registration) -> None:
    """Add the ``/u/<user>`` routes to ``app``."""

    @app.post("/u/<user>")
    async def put_user(user: str) -> TrioResponse:
        """Register ``user``; an existing user is reset (its functions dropped).
        res: 1, or in ``keys`` mode ``{"user", "api_key"}``.

        Cancellation: blocks on dbmanager; a cancel may leave the write done or not.
        """
        user = inputs.check_name("user", user)
        if not auth.keys_mode:
            await peers.ask_db(PutUser(user))
            return envelope(1)
        # Read past the cache: a user just made at another frontend must not be reset freely.
        # A user made in open mode has no key: only the admin may reset it.
        try:
            await peers.ask_db(GetUser(user))
            new_name = False
        except NotFound:
            new_name = True  # anyone may take it, but only once: see create_only
        if new_name:
            registration.check_new_user(
                admin=auth.presents_admin_key(), address=request.remote_addr or "unknown"
            )
        else:
            await auth.require_user(user)
        key = new_key(user)
        try:
            try:
                await peers.ask_db(PutUser(user, hash_key(key), create_only=new_name))
            except Conflict:
                # Someone registered the name since we looked: it is theirs now.
                await auth.require_user(user)
                await peers.ask_db(PutUser(user, hash_key(key)))
        finally:
            auth.forget(user)
        return envelope({"user": user, "api_key": key})

    @app.delete("/u/<user>")
    async def delete_user(user: str) -> TrioResponse:
        """Remove ``user``, its functions, and its jobs with their logs. res: 1; 404 for an
        unknown user.

        Cancellation: blocks on dbmanager; a cancel may leave the write done or not.
        """
        user = inputs.check_name("user", user)
        await auth.require_user(user)
        try:
            await peers.ask_db(DeleteUser(user))
            await peers.forget_functions(user)
        finally:
            auth.forget(user)
        return envelope(1)

    @app.get("/u/<user>/time")
    async def user_time(user: str) -> TrioResponse:
        """The user's accumulated execution time. res: milliseconds (a number).

        Cancellation: blocks on dbmanager; nothing changes.
        """
        user = inputs.check_name("user", user)
        await auth.require_user(user)
        reply = await peers.ask_db(GetUser(user))
        return envelope(reply.user.execution_time_ms)

    @app.get("/u/<user>/jobs")
    async def user_jobs(user: str) -> TrioResponse:
        """The user's recent jobs, newest first: ``?state=`` filters, ``?limit=`` (1 to 1000,
        default 50) caps. res: a list of job records.

        Cancellation: blocks on dbmanager; nothing changes.
        """
        user = inputs.check_name("user", user)
        state = inputs.job_state(request.args.get("state"))
        limit = inputs.list_limit(request.args.get("limit"), DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
        await auth.require_user(user)
        reply = await peers.ask_db(ListJobs(user, state, limit))
        return envelope([public_record(job) for job in reply.jobs])
