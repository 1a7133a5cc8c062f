"""The per-user call rate limit: a token bucket per user (:mod:`faas_trio.core.rate`).

Each user may make ``rate`` submissions per minute (a call, or a whole map), in bursts of up
to ``rate``; a rate of 0 is no limit. The buckets live in
the jqmanager, which sees every submission, so the limit holds however many frontends there
are (as the per-user limit on queued and running jobs does).
"""

from __future__ import annotations

from ..core.errors import TooManyRequests
from ..core.rate import TokenBuckets

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets by user name, refilled at ``per_minute / 60`` tokens a second."""

    def __init__(self, per_minute: float) -> None:
        #: Tokens at most (a burst); 0: no limit.
        self.capacity = per_minute
        self._buckets = TokenBuckets(per_minute, per_minute / 60.0)

    def take(self, user: str) -> None:
        """Spend one of ``user``'s tokens.

        Raises:
            TooManyRequests: none left; ``retry_after`` is when the next one comes.
        """
        if self.capacity <= 0:
            return  # no limit
        wait = self._buckets.try_take(user)
        if wait is not None:
            raise TooManyRequests(
                f"{user} is over {self.capacity:g} submissions per minute (FAAS_USER_RATE)",
                retry_after=wait,
            )
