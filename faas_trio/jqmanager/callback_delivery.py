"""Callbacks: POSTing a finished job's record to the URL its submitter gave.

The frontend checks the URL against ``FAAS_CALLBACK_ALLOW`` when the job is submitted (the
only way a URL gets into a record), so this module only delivers. Delivery is at least once
and best effort: a few tries with growing pauses, each bounded, never redirected (a redirect
could point into the platform's own network), and all within a fixed total deadline, so a dead
receiver costs one background task for a bounded time.
"""

from __future__ import annotations

import logging

import httpx
import msgspec
import trio

from ..core.public import public_record
from ..core.records import JobRecord
from ..core.retry import Backoff

__all__ = ["CallbackSender"]

log = logging.getLogger("faas.jqmanager.callbacks")


class CallbackSender:
    """Delivers callbacks in the background, in tasks of ``nursery``.

    Args:
        attempts: POSTs at most per callback.
        attempt_timeout: seconds one POST may take.
        first_backoff: pause after the first failure, doubled after each further one.
        max_concurrent: deliveries in flight at once; more wait their turn.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        attempts: int = 5,
        attempt_timeout: float = 5.0,
        first_backoff: float = 1.0,
        max_concurrent: int = 64,
    ) -> None:
        self._nursery = nursery
        self.attempts = attempts
        self.attempt_timeout = attempt_timeout
        self.first_backoff = first_backoff
        # Capped far beyond any delay the attempts reach: the pauses just double.
        self._backoff = Backoff(first_backoff, first_backoff * 2.0**attempts)
        self._limiter = trio.CapacityLimiter(max_concurrent)
        #: Deliveries the receiver accepted, and those given up on, so far.
        self.delivered = 0
        self.abandoned = 0

    @property
    def deadline(self) -> float:
        """The longest one delivery may take, seconds: every attempt and every pause."""
        pauses = self._backoff.longest(max(0, self.attempts - 1))
        return self.attempts * self.attempt_timeout + pauses + 1.0

    def send(self, record: JobRecord) -> None:
        """Deliver ``record`` to its callback URL in the background (nothing if it has none)."""
        if record.callback:
            body = msgspec.json.encode(public_record(record))
            self._nursery.start_soon(self.deliver, record.callback, body)

    async def deliver(self, url: str, body: bytes) -> bool:
        """POST ``body`` to ``url`` until a 2xx answer, retrying failures with backoff.
        A 4xx answer other than 408 and 429 is final: the receiver refuses it. Returns
        whether the receiver accepted it.

        Cancellation: blocks up to :attr:`deadline`; a cancel abandons the delivery.
        """
        async with self._limiter:
            with trio.move_on_after(self.deadline):
                accepted = await self._attempts(url, body)
                if accepted:
                    self.delivered += 1
                else:
                    self.abandoned += 1
                return accepted
        self.abandoned += 1
        log.warning("callback to %s abandoned after %g s", url, self.deadline)
        return False

    async def _attempts(self, url: str, body: bytes) -> bool:
        backoff = Backoff(self.first_backoff, self._backoff.cap)
        headers = {"Content-Type": "application/json", "User-Agent": "faas-trio-callback"}
        async with httpx.AsyncClient(
            timeout=self.attempt_timeout, follow_redirects=False, trust_env=False
        ) as http:
            for attempt in range(1, self.attempts + 1):
                try:
                    response = await http.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                else:
                    if response.is_success:
                        return True
                    status = response.status_code
                    if 400 <= status < 500 and status not in (408, 429):
                        log.warning("callback to %s refused with %d", url, status)
                        return False
                    reason = f"status {status}"
                log.info("callback to %s failed (attempt %d: %s)", url, attempt, reason)
                if attempt < self.attempts:
                    await backoff.sleep()
        log.warning("callback to %s abandoned after %d attempts", url, self.attempts)
        return False
