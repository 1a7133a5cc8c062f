"""The two components the frontend talks to, and typed calls to them.

A request handler never opens a connection: the clients are opened once by ``serve`` and
shared by every request. Each call has a deadline, so a neighbour that is down costs a request
at most ``rpc_timeout`` (plus its ``wait``) before it answers 503.

Telling the jqmanager of a change (:meth:`Peers.forget_functions`, before a deploy, a removal
or a change of secrets is answered) waits at most :data:`FORGET_TIMEOUT`, not the RPC timeout,
when the jqmanager is down. A notice it did not answer is *owed*: it is sent again (as "all
of the user's functions") before this frontend submits that user's next call, and that
submission is refused (503) if the jqmanager still cannot be told; :meth:`Peers.keep_telling`
delivers owed notices meanwhile. So a call made through this frontend after a change was
answered never starts with what the change replaced, even on a jqmanager that was alive but
out of reach (remembering the old function) at the time of the change. A jqmanager that
restarted remembers nothing, so telling it again is harmless.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from ..core.errors import FaasError, PeerUnavailable
from ..core.messages import ForgetFunctions, Ping, Request, Submit
from ..core.rpc import Client

__all__ = ["FORGET_TIMEOUT", "OWED_RETRY_INTERVAL", "Peers"]

R = TypeVar("R")

log = logging.getLogger("faas.frontend")

#: Seconds a deploy, removal or change of secrets waits for the jqmanager to confirm that it
#: forgot what changed before it is answered (the notice is owed past that).
FORGET_TIMEOUT = 0.5
#: Seconds between attempts to deliver owed notices in the background.
OWED_RETRY_INTERVAL = 1.0

#: A change the jqmanager must hear of: (user, function name, or None for all of them).
Change = tuple[str, str | None]


class _OwedNotices:
    """Changes the jqmanager has not confirmed, each with the number of its latest notice, so
    that a confirmation settles only the notices made before it was sent."""

    def __init__(self) -> None:
        self.changes: dict[Change, int] = {}
        self._numbers = itertools.count()
        #: Set when a change is added; :meth:`Peers.keep_telling` replaces it.
        self.added = trio.Event()

    def add(self, change: Change) -> None:
        self.changes[change] = next(self._numbers)
        self.added.set()

    def by_user(self, user: str | None) -> dict[str, dict[Change, int]]:
        """The owed changes of ``user`` (everyone's when None), by user."""
        found: dict[str, dict[Change, int]] = {}
        for change, number in self.changes.items():
            if user is None or change[0] == user:
                found.setdefault(change[0], {})[change] = number
        return found

    def settle(self, told: dict[Change, int]) -> None:
        """The jqmanager confirmed a notice covering ``told``: forget those of them that got
        no later notice meanwhile."""
        for change, number in told.items():
            if self.changes.get(change) == number:
                del self.changes[change]


@dataclass(frozen=True)
class Peers:
    """Clients of dbmanager and jqmanager, plus the per-call deadline."""

    db: Client
    jq: Client
    #: Seconds a call may take beyond any ``wait`` it asks the peer to hold.
    rpc_timeout: float
    _owed: _OwedNotices = field(default_factory=_OwedNotices, repr=False, compare=False)

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
        """Send ``request`` to jqmanager, which may hold it up to ``wait`` seconds. A
        ``Submit`` goes only once the jqmanager confirmed the notices owed of its user.

        Raises:
            PeerUnavailable: no answer within ``wait + rpc_timeout``; or, for a ``Submit``,
                the owed notices were not answered within ``rpc_timeout`` (it was not sent).
            FaasError: jqmanager answered this error.
            ProtocolError: jqmanager answered a reply of another type.

        Cancellation: blocks until the reply; a cancel abandons the request (the job it
        submitted, if any, stays submitted).
        """
        # A Submit is the one request whose call the jqmanager may start with a function it
        # remembers (early dispatch); the others only read or cancel.
        if self._owed.changes and isinstance(request, Submit):
            await self._tell_owed(request.submission.user, self.rpc_timeout)
        return await self.jq.call(request, timeout=wait + self.rpc_timeout)

    async def forget_functions(self, user: str, name: str | None = None) -> None:
        """Tell the jqmanager that ``user``'s function ``name`` (all when None) changed, so it
        starts no later call with the old one before the store confirms it. Waits at most
        :data:`FORGET_TIMEOUT`; unconfirmed by then, the notice is owed (see the module
        docstring). Never raises for a peer failure.

        Cancellation: blocks up to :data:`FORGET_TIMEOUT`; a cancel leaves the notice owed.
        """
        change = (user, name)
        # An earlier notice of the same change still owed: this one settles it once heard.
        earlier = self._owed.changes.get(change)
        try:
            await self._tell(user, name, FORGET_TIMEOUT)
        except (PeerUnavailable, trio.Cancelled) as exc:
            # Owed only now: while it was on its way, nothing was answered, so a call racing
            # it may start with either version, and a second notice would only repeat it.
            self._owed.add(change)
            if isinstance(exc, trio.Cancelled):
                raise
            what = f"{user}'s functions" if name is None else f"{user}'s function {name}"
            log.warning(
                "the jqmanager was not told that %s changed (%s); it will be before the "
                "next call of %s", what, exc, user,
            )  # fmt: skip
            return
        if earlier is not None:
            self._owed.settle({change: earlier})

    def owed(self) -> list[Change]:
        """The changes the jqmanager has not confirmed yet, oldest notice first."""
        return sorted(self._owed.changes, key=self._owed.changes.__getitem__)

    async def keep_telling(self) -> None:
        """Deliver owed notices as soon as there are some, every :data:`OWED_RETRY_INTERVAL`
        seconds until the jqmanager confirms them, so that they do not wait for their users'
        next calls.

        Cancellation: runs until cancelled; what is not confirmed stays owed.
        """
        while True:
            await self._owed.added.wait()
            self._owed.added = trio.Event()
            while self._owed.changes:
                try:
                    await self._tell_owed(None, self.rpc_timeout)
                except PeerUnavailable:
                    await trio.sleep(OWED_RETRY_INTERVAL)

    async def _tell_owed(self, user: str | None, seconds: float) -> None:
        """Tell the jqmanager of the owed changes of ``user`` (everyone's when None), one
        "all of the user's functions" notice per user, and settle what it confirms.

        Raises:
            PeerUnavailable: a notice was not answered within ``seconds`` in all.

        Cancellation: blocks up to ``seconds``; what was not confirmed stays owed.
        """
        deadline = trio.current_time() + seconds
        for owner, told in self._owed.by_user(user).items():
            await self._tell(owner, None, max(0.0, deadline - trio.current_time()))
            self._owed.settle(told)

    async def _tell(self, user: str, name: str | None, seconds: float) -> None:
        """Send one ``ForgetFunctions``; an error it answers is logged, not raised: it heard
        the notice (in order with what this frontend sends next), and the same notice again
        would get the same answer.

        Raises:
            PeerUnavailable: no answer within ``seconds``.

        Cancellation: blocks up to ``seconds``; a cancel abandons the notice.
        """
        try:
            await self.jq.call(ForgetFunctions(user, name), timeout=seconds)
        except PeerUnavailable:
            raise
        except FaasError as exc:
            log.warning("the jqmanager refused ForgetFunctions(%r, %r): %s", user, name, exc)

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
