"""The actuator seam: what the scaler needs from whatever runs the workers."""

from __future__ import annotations

from typing import Protocol

from ...core.errors import FaasError

__all__ = ["Actuator", "ActuatorError"]


class ActuatorError(FaasError):
    """Raised by an actuator when it could not read or change the worker count (a command
    failed or timed out). The scaler logs it and tries again next round."""

    code = "actuator"


class Actuator(Protocol):
    """Reads and sets the number of worker processes or instances."""

    async def current(self) -> int:
        """The worker count in effect: the count last applied, or, before any, the count
        observed. Raises ``ActuatorError`` or ``FaasError`` when it cannot be read."""
        ...

    async def apply(self, count: int) -> None:
        """Ask for ``count`` workers. Returns once the request was accepted (the workers
        themselves may start later). Raises ``ActuatorError`` or ``FaasError`` on failure,
        in which case the count in effect is unchanged as far as :meth:`current` knows."""
        ...

    async def aclose(self) -> None:
        """Release what the actuator holds. Idempotent."""
        ...
