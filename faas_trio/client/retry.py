"""When the client sends a request again, and how long it waits first.

A request that never reached the platform (connection refused, connect timeout) is always
safe to send again. One that broke after it was sent (reset, read timeout) or got a 503 (a
component of the platform did not answer) is sent again only when it is
:attr:`~.protocol.Request.resendable`: reads, replacements, and submissions that carry an
``Idempotency-Key`` (the platform answers the first job for a repeated key, so a retried
submission never runs twice).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .protocol import Request

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``attempts`` tries, waiting ``backoff * 2**n`` seconds (at most ``max_backoff``)."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 4.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return float(min(self.max_backoff, self.backoff * 2**attempt))

    def retries_error(self, attempt: int, request: Request, exc: httpx.TransportError) -> bool:
        """Whether try ``attempt`` of ``request``, which failed with ``exc``, is tried again."""
        if attempt + 1 >= self.attempts:
            return False
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        return never_sent or request.resendable

    def retries_status(self, attempt: int, request: Request, status: int) -> bool:
        """Whether an answer with ``status`` to try ``attempt`` is tried again (503 only)."""
        return status == 503 and request.resendable and attempt + 1 < self.attempts
