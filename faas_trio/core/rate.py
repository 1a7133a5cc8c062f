"""Token buckets by key: a rate limit that allows bursts, in bounded memory.

Each key may spend ``capacity`` tokens at once and gets ``per_second`` back each second, up to
``capacity``. Used for the per-user call rate (jqmanager) and the per-address registration
rate (frontend).
"""

from __future__ import annotations

from collections import OrderedDict

import trio

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """Buckets of at most ``capacity`` tokens, refilled at ``per_second``; at most
    ``max_keys`` tracked (full buckets are dropped first, then the least recently used: a
    dropped bucket counts as full again)."""

    def __init__(self, capacity: float, per_second: float, *, max_keys: int = 10_000) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self._max_keys = max_keys
        #: key -> (tokens, when they were counted, on trio's clock), least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - then) * self.per_second)

    def try_take(self, key: str) -> float | None:
        """Spend one of ``key``'s tokens: None when there was one, else the seconds until
        there is (and nothing is spent)."""
        now = trio.current_time()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            self._buckets.move_to_end(key)
            return (1.0 - tokens) / self.per_second
        self._buckets[key] = (tokens - 1.0, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._shrink(now)
        return None

    def _shrink(self, now: float) -> None:
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.capacity]:
            del self._buckets[key]
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
