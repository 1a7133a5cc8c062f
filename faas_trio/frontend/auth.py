"""Who is calling, and what they may touch: API keys (``FAAS_AUTH=keys``) or nobody (``open``).

In ``keys`` mode a request carries ``Authorization: Bearer <key>``. A user's key is
``<user>.<secret>``: it names its user, so one lookup finds the hash to compare it with, and
a key that is wrong (401) is told apart from a good key used on another user's resource
(403 on ``/u/<other>/...``, 404 on another user's job, so its existence is not revealed).
``FAAS_ADMIN_KEY`` may do anything. Keys are compared by their hashes in constant time.

Only a hash of each key is stored. SHA-256 without salt or stretching is enough here: a key's
secret is 32 random bytes, so there is nothing to guess and no use in slowing guesses down
(stretching exists for low-entropy passwords), and a fast hash keeps the check cheap on every
request.

Checking a key needs its user's hash; reading it from dbmanager on every request would put a
round trip on the hot path, so hashes (and "no such user") are kept :attr:`Auth.cache_ttl`
seconds. This frontend forgets a user's entry when it registers or removes that user; another
frontend's change is seen within the TTL.

In ``open`` mode every caller may do everything, as in the old API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

import trio
from quart import request

from ..core.errors import Forbidden, NotFound, Unauthorized
from ..core.messages import GetJob, GetUser
from ..core.records import JobRecord
from . import inputs
from .config import FrontendConfig
from .peers import Peers

__all__ = ["Auth", "Caller", "hash_key", "new_key"]

#: Cached users at most; the oldest entries go first.
_CACHE_SIZE = 10_000


def hash_key(key: str) -> str:
    """The stored form of an API key: its SHA-256, hex (see the module doc for why)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key(user: str) -> str:
    """A fresh API key for ``user``: ``<user>.<43 URL-safe characters>`` (32 random bytes)."""
    return f"{user}.{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: a user, the admin, or anyone (``open`` mode)."""

    #: The user whose key was presented; None for the admin and in ``open`` mode.
    user: str | None
    #: May act on every user's resources (the admin key, or ``open`` mode).
    unrestricted: bool

    def may_act_as(self, user: str) -> bool:
        return self.unrestricted or self.user == user


OPEN_CALLER = Caller(user=None, unrestricted=True)
ADMIN = Caller(user=None, unrestricted=True)


class _KeyHashes:
    """User name -> key hash (None: no such user, or a user without a key), for a while."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    def get(self, user: str) -> tuple[bool, str | None]:
        """(found, hash): found is False when absent or expired."""
        entry = self._entries.get(user)
        if entry is None or entry[1] <= trio.current_time():
            return False, None
        return True, entry[0]

    def put(self, user: str, key_hash: str | None) -> None:
        self._entries[user] = (key_hash, trio.current_time() + self.ttl)
        self._entries.move_to_end(user)
        while len(self._entries) > _CACHE_SIZE:
            self._entries.popitem(last=False)

    def forget(self, user: str) -> None:
        self._entries.pop(user, None)


class Auth:
    """The frontend's authentication and ownership checks, one per app."""

    def __init__(self, config: FrontendConfig, peers: Peers) -> None:
        self.keys_mode = config.auth == "keys"
        self._peers = peers
        self._admin_hash = hash_key(config.admin_key) if config.admin_key else None
        self._hashes = _KeyHashes(config.key_cache_ttl)

    @property
    def cache_ttl(self) -> float:
        return self._hashes.ttl

    def forget(self, user: str) -> None:
        """Drop what is cached about ``user`` (after registering or removing it here)."""
        self._hashes.forget(user)

    async def stored_hash(self, user: str, *, fresh: bool = False) -> str | None:
        """The key hash stored for ``user``; None when there is no such user (or no key).
        ``fresh`` reads dbmanager even if the cache has an entry.

        Raises:
            PeerUnavailable: dbmanager did not answer.

        Cancellation: blocks on dbmanager; nothing changes.
        """
        if not fresh:
            found, cached = self._hashes.get(user)
            if found:
                return cached
        try:
            reply = await self._peers.ask_db(GetUser(user))
            key_hash = reply.user.key_hash
        except NotFound:
            key_hash = None
        self._hashes.put(user, key_hash)
        return key_hash

    def presented_key(self) -> str | None:
        """The bearer key of the current request, or None when it carries none."""
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return key.strip()

    def presents_admin_key(self) -> bool:
        """Whether the current request carries the admin key (checked without dbmanager)."""
        key = self.presented_key()
        if key is None or self._admin_hash is None:
            return False
        return hmac.compare_digest(hash_key(key), self._admin_hash)

    async def caller(self) -> Caller:
        """Who sent the current request.

        Raises:
            Unauthorized: ``keys`` mode, and no key or a wrong one.
            PeerUnavailable: dbmanager did not answer.

        Cancellation: blocks on dbmanager (on a cache miss); nothing changes.
        """
        if not self.keys_mode:
            return OPEN_CALLER
        key = self.presented_key()
        if key is None:
            raise Unauthorized("this request needs an API key: Authorization: Bearer <key>")
        presented = hash_key(key)
        if self._admin_hash is not None and hmac.compare_digest(presented, self._admin_hash):
            return ADMIN
        user, dot, secret = key.rpartition(".")
        if dot and secret and inputs.is_name(user):
            stored = await self.stored_hash(user)
            if stored is not None and hmac.compare_digest(presented, stored):
                return Caller(user=user, unrestricted=False)
        raise Unauthorized("wrong API key")

    async def require_user(self, user: str) -> Caller:
        """The caller, who must be ``user`` (or the admin, or anyone in ``open`` mode).

        Raises:
            Unauthorized: no key or a wrong one.
            Forbidden: a good key of another user.

        Cancellation: as :meth:`caller`.
        """
        caller = await self.caller()
        if not caller.may_act_as(user):
            raise Forbidden(f"this key is not {user}'s")
        return caller

    async def require_admin(self) -> Caller:
        """The caller, who must hold the admin key (anyone in ``open`` mode).

        Raises:
            Unauthorized: no key or a wrong one.
            Forbidden: a user's key.

        Cancellation: as :meth:`caller`.
        """
        caller = await self.caller()
        if caller.user is not None:
            raise Forbidden("this needs the admin key")
        return caller

    async def may_act_as(self, user: str) -> bool:
        """Whether the caller may act on ``user``'s resources (its groups, say).

        Raises:
            Unauthorized: no key or a wrong one.

        Cancellation: blocks on dbmanager; nothing changes.
        """
        return (await self.caller()).may_act_as(user)

    async def require_job_owner(self, job_id: str) -> JobRecord | None:
        """Check the caller owns job ``job_id``; returns the job as read for the check (None
        when no check was needed: the admin, or ``open`` mode).

        Raises:
            Unauthorized: no key or a wrong one.
            NotFound: no such job, or another user's (the same answer, so a job's existence
                is not revealed).

        Cancellation: blocks on dbmanager; nothing changes.
        """
        caller = await self.caller()
        if caller.unrestricted:
            return None
        not_found = f"job '{job_id}' not found"
        try:
            job = (await self._peers.ask_db(GetJob(job_id))).job
        except NotFound:
            raise NotFound(not_found) from None
        if job.user != caller.user:
            raise NotFound(not_found)
        return job
