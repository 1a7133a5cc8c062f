"""The per-user cap on stored bytes: a user may not fill the store's disk through the API.

What a user's jobs hold (arguments, results, values, errors, logs: the store's
:func:`~faas_trio.store.base.stored_size`) adds up to at most ``FAAS_MAX_STORED_BYTES``. A
submission (a call or a map) that would pass it is refused with ``PayloadTooLarge`` (413),
saying what to do. The store keeps the count (:meth:`Store.stored_bytes`); this module keeps
it per user in memory, so that a submission costs no extra round trip: a user's count is read
once, then this dbmanager adds what its own writes store (creations, finishes) and reads it
again only after :data:`TTL` seconds, or at once after a delete or a sweep (which it cannot
attribute to users without reading). Between reads the cached count can only be too high
(deletes the store made by itself, e.g. MongoDB's TTL index), never too low, except for
submissions checked at the same moment: concurrent submissions of one user may each pass
the check, so a user may overshoot the cap by what is in flight; results are counted when
they are stored, so the submission after them is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from ..core.errors import PayloadTooLarge
from ..store import Store

__all__ = ["TTL", "StoredBytesCap"]

#: Seconds a user's count read from the store is trusted (plus this dbmanager's own writes).
TTL = 30.0
#: Users whose counts are kept at most (past it, all are forgotten: a cold cache costs one
#: read per user).
MAX_USERS = 10_000


class StoredBytesCap:
    """Checks submissions against ``cap`` bytes per user, with counts from ``store``."""

    def __init__(
        self,
        store: Store,
        cap: int,
        *,
        ttl: float = TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.cap = cap
        self._ttl = ttl
        self._clock = clock
        #: user -> (bytes, when the count was read)
        self._counts: dict[str, tuple[int, float]] = {}
        self._reading: dict[str, trio.Event] = {}

    async def check(self, user: str, adding: int) -> None:
        """Refuse to store ``adding`` more bytes for ``user`` when that passes the cap.

        Raises:
            PayloadTooLarge: it would (the message names ``FAAS_MAX_STORED_BYTES``).
            PeerUnavailable: the store cannot be read.

        Cancellation: abandons the read of the count (another check of the user reads it).
        """
        held = await self._held(user)
        if held + adding <= self.cap:
            return
        raise PayloadTooLarge(
            f"{user}'s jobs hold {held} bytes of arguments, results and logs; {adding} more"
            f" would pass the FAAS_MAX_STORED_BYTES of {self.cap}: delete finished jobs"
            " (DELETE /j/<id>), wait for them to be removed after FAAS_JOB_RETENTION, or have"
            " FAAS_MAX_STORED_BYTES raised"
        )

    def added(self, user: str, count: int) -> None:
        """This dbmanager stored ``count`` more bytes for ``user``."""
        entry = self._counts.get(user)
        if entry is not None:
            self._counts[user] = (entry[0] + count, entry[1])

    def forget(self, user: str | None = None) -> None:
        """Read ``user``'s count (or everyone's) again at its next check: bytes were freed."""
        if user is None:
            self._counts.clear()
        else:
            self._counts.pop(user, None)

    async def _held(self, user: str) -> int:
        while True:
            entry = self._counts.get(user)
            if entry is not None and self._clock() - entry[1] < self._ttl:
                return entry[0]
            reading = self._reading.get(user)
            if reading is None:
                break
            await reading.wait()  # one read per user at a time; then use what it found
        done = self._reading[user] = trio.Event()
        try:
            read_at = self._clock()
            held = await self._store.stored_bytes(user)
            if len(self._counts) >= MAX_USERS:
                self._counts.clear()
            self._counts[user] = (held, read_at)
        finally:
            del self._reading[user]
            done.set()
        return held
