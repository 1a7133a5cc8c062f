"""The jqmanager's settings, read from the environment through the settings table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import (
    check_fields,
    check_value,
    from_env,
    lookup,
    read,
    setting,
    tcp_bind,
)

__all__ = ["KEYS_MODE_USER_RATE", "JqManagerConfig", "default_user_rate"]

#: Submissions per user and minute in ``keys`` mode unless ``FAAS_USER_RATE`` says otherwise:
#: 100 a second, more than a person or a script calling in a loop over HTTP keeps up (a map is
#: one submission), while a runaway client is told to slow down.
KEYS_MODE_USER_RATE = 6000.0


@dataclass(frozen=True, kw_only=True)
class JqManagerConfig:
    """Where the jqmanager listens, where its dbmanager is, and its limits (the variables are
    in :mod:`faas_trio.core.settings`). Validated on construction (raises ``ConfigError``)."""

    #: The ZeroMQ endpoint the ROUTER binds (``tcp://host:*`` picks a free port).
    bind: str = tcp_bind("127.0.0.1", lookup("PORT", "jqmanager").default)
    db_url: str = setting("DB_URL", "jqmanager")
    max_queue: int = setting("FAAS_MAX_QUEUE")
    user_max_active: int = setting("FAAS_USER_MAX_ACTIVE")
    #: 0: no limit (the default in open mode, see :func:`default_user_rate`).
    user_rate: float = 0.0
    lease_timeout: float = setting("FAAS_LEASE_TIMEOUT")
    max_attempts: int = setting("FAAS_MAX_ATTEMPTS")
    dispatch_grace: float = setting("FAAS_DISPATCH_GRACE")
    max_batch: int = setting("FAAS_MAX_BATCH")
    #: How often leases are checked, seconds.
    check_interval: float = 0.5
    #: Timeout of one request to the dbmanager, seconds.
    db_timeout: float = 5.0
    #: How long a final state is retried against the dbmanager before giving up, seconds.
    persist_timeout: float = 30.0

    def __post_init__(self) -> None:
        check_fields(self)
        check_value(lookup("FAAS_USER_RATE"), self.user_rate)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JqManagerConfig:
        """Settings from the environment (default: the process's).

        Raises:
            ConfigError: a variable is malformed or out of range; the message names it.
        """
        values = read("jqmanager", env)
        rate = values["FAAS_USER_RATE"]
        return from_env(
            cls,
            "jqmanager",
            env,
            bind=tcp_bind(values["FAAS_HOST"], values["PORT"]),
            user_rate=default_user_rate(values["FAAS_AUTH"]) if rate is None else rate,
        )


def default_user_rate(auth: str | None) -> float:
    """``FAAS_USER_RATE`` when unset: no limit in ``open`` mode (the old API had none);
    :data:`KEYS_MODE_USER_RATE` with ``FAAS_AUTH=keys``."""
    return KEYS_MODE_USER_RATE if auth == "keys" else 0.0
