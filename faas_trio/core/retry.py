"""One way to wait between retries: exponential backoff with a cap, a deadline and jitter.

Every loop that retries something that failed (an RPC, a report, a restart, a database call, a
callback POST) keeps a :class:`Backoff` and awaits :meth:`Backoff.sleep` between tries::

    backoff = Backoff(first=0.1, cap=2.0, deadline=30.0)
    while True:
        try:
            return await do_it()
        except PeerUnavailable:
            if not await backoff.sleep():
                raise  # the deadline would pass before the next try

Delays grow ``first, 2*first, 4*first...`` up to ``cap``; each is spread by ``±jitter`` (a
fraction) so that many retrying peers do not come back in step. ``deadline`` (seconds from
the first :meth:`~Backoff.sleep`, or from :meth:`~Backoff.reset`) bounds the whole sequence.
"""

from __future__ import annotations

import math
import random

import trio

__all__ = ["Backoff"]


class Backoff:
    """The delays of one retry sequence. Not shared between tasks."""

    def __init__(
        self,
        first: float,
        cap: float,
        *,
        deadline: float | None = None,
        jitter: float = 0.1,
    ) -> None:
        if not 0 < first <= cap or not 0 <= jitter < 1:
            raise ValueError("need 0 < first <= cap and 0 <= jitter < 1")
        self.first = first
        self.cap = cap
        self.deadline = deadline
        self.jitter = jitter
        self._next = first
        self._ends_at: float | None = None

    def reset(self) -> None:
        """Start again from ``first`` (a try succeeded); the deadline starts again too."""
        self._next = self.first
        self._ends_at = None

    def next_delay(self) -> float:
        """The pause before the next try (jittered), and advance the sequence."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        if self.jitter:
            delay *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return delay

    def remaining(self) -> float:
        """Seconds left before the deadline (infinite without one)."""
        if self.deadline is None:
            return math.inf
        if self._ends_at is None:
            self._ends_at = trio.current_time() + self.deadline
        return self._ends_at - trio.current_time()

    async def sleep(self) -> bool:
        """Pause before the next try. Returns False, at once, when the deadline would pass
        before the pause ends (give up); True after the pause.

        Cancellation: a plain sleep.
        """
        delay = self.next_delay()
        if delay >= self.remaining():
            return False
        await trio.sleep(delay)
        return True

    def longest(self, pauses: int) -> float:
        """The longest total of the first ``pauses`` pauses (jitter included): what a
        caller that tries ``pauses + 1`` times waits at most between tries."""
        total, delay = 0.0, self.first
        for _ in range(pauses):
            total += delay * (1 + self.jitter)
            delay = min(delay * 2, self.cap)
        return total
