"""Who may create users, and how fast: ``FAAS_REGISTRATION`` and ``FAAS_REGISTRATION_RATE``.

In ``keys`` mode a new name is a new set of per-user limits (call rate, queued jobs, stored
jobs), so names must not be free to mint by the thousand. With ``FAAS_REGISTRATION=admin``
only the admin key creates users; with ``open`` (the default) anyone may, at most
``FAAS_REGISTRATION_RATE`` new users an hour from one client address, in bursts of as many.
The admin key is never limited. Re-registering (resetting) an existing user needs its key
and is no creation, so it is not counted. In ``open`` auth mode (no keys) none of this
applies: every caller may do everything.

The buckets are kept per frontend: with several frontends, an address may create the rate
at each. The address is the connection's peer: behind a proxy every client shares the
proxy's, so there the rate is the proxy's (raise it, or let only the admin register).
"""

from __future__ import annotations

from ..core.errors import Forbidden, TooManyRequests
from ..core.rate import TokenBuckets

__all__ = ["REGISTRATION_MODES", "Registration"]

#: ``open``: anyone may create users (rate-limited per address); ``admin``: only the admin key.
REGISTRATION_MODES = ("open", "admin")


class Registration:
    """The registration policy of one frontend."""

    def __init__(self, mode: str, per_hour: float) -> None:
        self.admin_only = mode == "admin"
        self.per_hour = per_hour
        self._buckets = TokenBuckets(per_hour, per_hour / 3600.0)

    def check_new_user(self, *, admin: bool, address: str) -> None:
        """May a caller (``admin`` or not) from ``address`` create a user now? Spends one of
        the address's registrations when it may.

        Raises:
            Forbidden: only the admin key creates users here.
            TooManyRequests: the address created its hourly share; ``retry_after`` says when
                it may again.
        """
        if admin:
            return
        if self.admin_only:
            raise Forbidden(
                "only the admin key creates users here (FAAS_REGISTRATION=admin): ask the"
                " operator to register this name"
            )
        wait = self._buckets.try_take(address)
        if wait is not None:
            raise TooManyRequests(
                f"too many new users from {address}: at most {self.per_hour:g} an hour"
                " (FAAS_REGISTRATION_RATE); the admin key is not limited",
                retry_after=wait,
            )
