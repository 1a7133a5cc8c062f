"""The local actuator: the supervisor of ``faas-trio up`` runs as many workers as it is told."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ...core.messages import SetWorkers
from ...core.rpc import Client, open_client
from .base import ActuatorError

__all__ = ["LocalActuator", "open_local_actuator"]


class LocalActuator:
    """Sends ``SetWorkers`` to the supervisor.

    The count in effect is the one last accepted by the supervisor; before the first, it is
    what ``observed()`` returns (the scaler passes the worker count jqmanager last reported).
    """

    def __init__(
        self, supervisor: Client, observed: Callable[[], int | None], *, timeout: float
    ) -> None:
        self._supervisor = supervisor
        self._observed = observed
        self._timeout = timeout
        self._applied: int | None = None

    async def current(self) -> int:
        """The count last applied, else the observed one.

        Raises:
            ActuatorError: nothing applied and nothing observed yet.
        """
        if self._applied is not None:
            return self._applied
        observed = self._observed()
        if observed is None:
            raise ActuatorError("the worker count is not known yet")
        return observed

    async def apply(self, count: int) -> None:
        """Ask the supervisor for ``count`` workers.

        Raises:
            PeerUnavailable: the supervisor did not answer within the timeout.
            FaasError: the supervisor refused (its error, rebuilt from the reply).

        Cancellation: waits for the supervisor's reply at most ``timeout`` seconds; a cancel
        leaves the last applied count as it was (the supervisor may still act on the request).
        """
        await self._supervisor.call(SetWorkers(count=count), timeout=self._timeout)
        self._applied = count

    async def aclose(self) -> None:
        """Nothing to release: the client belongs to :func:`open_local_actuator`."""


@asynccontextmanager
async def open_local_actuator(
    supervisor_url: str, observed: Callable[[], int | None], *, call_timeout: float = 5.0
) -> AsyncIterator[LocalActuator]:
    """A :class:`LocalActuator` connected to the supervisor at ``supervisor_url``; the
    connection is closed on exit."""
    async with open_client(supervisor_url, name="scaler-supervisor", peer="supervisor") as client:
        actuator = LocalActuator(client, observed, timeout=call_timeout)
        try:
            yield actuator
        finally:
            await actuator.aclose()
