"""The per-user call rate limit: a token bucket per user.

Each user may make ``rate`` submissions per minute (a call, or a whole map), in bursts of up
to ``rate``; a rate of 0 is no limit. The buckets live in
the jqmanager, which sees every submission, so the limit holds however many frontends there
are (as the per-user limit on queued and running jobs does).
"""

from __future__ import annotations

import trio

from ..core.errors import TooManyRequests

__all__ = ["RateLimiter"]

#: Users tracked at most; past it, users whose buckets are full are dropped (a dropped bucket
#: and a full one are the same thing).
_MAX_USERS = 10_000


class RateLimiter:
    """Token buckets by user name, refilled at ``per_minute / 60`` tokens a second."""

    def __init__(self, per_minute: float) -> None:
        #: Tokens at most (a burst); 0: no limit.
        self.capacity = per_minute
        self.per_second = per_minute / 60.0
        #: user -> (tokens, when they were counted, on trio's clock)
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, user: str, now: float) -> float:
        tokens, then = self._buckets.get(user, (self.capacity, now))
        return min(self.capacity, tokens + (now - then) * self.per_second)

    def take(self, user: str) -> None:
        """Spend one of ``user``'s tokens.

        Raises:
            TooManyRequests: none left; ``retry_after`` is when the next one comes.
        """
        if self.capacity <= 0:
            return  # no limit
        now = trio.current_time()
        tokens = self._tokens(user, now)
        if tokens < 1.0:
            self._buckets[user] = (tokens, now)
            wait = (1.0 - tokens) / self.per_second
            raise TooManyRequests(
                f"{user} is over {self.capacity:g} submissions per minute (FAAS_USER_RATE)",
                retry_after=wait,
            )
        self._buckets[user] = (tokens - 1.0, now)
        if len(self._buckets) > _MAX_USERS:
            self._drop_full(now)

    def _drop_full(self, now: float) -> None:
        for user in [u for u in self._buckets if self._tokens(u, now) >= self.capacity]:
            del self._buckets[user]
