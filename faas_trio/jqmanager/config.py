"""The jqmanager's settings, read from the environment through the settings table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import check_fields, from_env, lookup, read, setting, tcp_bind

__all__ = ["JqManagerConfig"]


@dataclass(frozen=True, kw_only=True)
class JqManagerConfig:
    """Where the jqmanager listens, where its dbmanager is, and its limits (the variables are
    in :mod:`faas_trio.core.settings`). Validated on construction (raises ``ConfigError``)."""

    #: The ZeroMQ endpoint the ROUTER binds (``tcp://host:*`` picks a free port).
    bind: str = tcp_bind("127.0.0.1", lookup("PORT", "jqmanager").default)
    db_url: str = setting("DB_URL", "jqmanager")
    max_queue: int = setting("FAAS_MAX_QUEUE")
    user_max_active: int = setting("FAAS_USER_MAX_ACTIVE")
    user_rate: float = setting("FAAS_USER_RATE")
    lease_timeout: float = setting("FAAS_LEASE_TIMEOUT")
    max_attempts: int = setting("FAAS_MAX_ATTEMPTS")
    dispatch_grace: float = setting("FAAS_DISPATCH_GRACE")
    #: How often leases are checked, seconds.
    check_interval: float = 0.5
    #: Timeout of one request to the dbmanager, seconds.
    db_timeout: float = 5.0
    #: How long a final state is retried against the dbmanager before giving up, seconds.
    persist_timeout: float = 30.0

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JqManagerConfig:
        """Settings from the environment (default: the process's).

        Raises:
            ConfigError: a variable is malformed or out of range; the message names it.
        """
        values = read("jqmanager", env)
        return from_env(
            cls, "jqmanager", env, bind=tcp_bind(values["FAAS_HOST"], values["PORT"])
        )
