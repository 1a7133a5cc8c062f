"""The jqmanager's settings, read from the environment."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import (
    DEFAULT_DB_PORT,
    DEFAULT_JQ_PORT,
    ConfigError,
    env_float,
    env_int,
    env_str,
    tcp_bind,
)

__all__ = ["JqManagerConfig"]


@dataclass(frozen=True, kw_only=True)
class JqManagerConfig:
    """Where the jqmanager listens, where its dbmanager is, and its limits."""

    #: The ZeroMQ endpoint the ROUTER binds (``tcp://host:*`` picks a free port).
    bind: str = tcp_bind("127.0.0.1", DEFAULT_JQ_PORT)
    #: The dbmanager's ZeroMQ endpoint.
    db_url: str = f"tcp://127.0.0.1:{DEFAULT_DB_PORT}"
    #: Queued jobs at most (beyond: ``TooManyRequests``).
    max_queue: int = 100_000
    #: Queued plus running jobs per user at most.
    user_max_active: int = 100
    #: New jobs per user and minute at most, in bursts of as many (beyond: ``TooManyRequests``).
    user_rate: float = 120.0
    #: A worker not heard from for this long is dead and loses its jobs, seconds.
    lease_timeout: float = 3.0
    #: Dispatches of one job at most; after the last is lost the job fails ("worker lost").
    max_attempts: int = 3
    #: How long a fresh dispatch may be missing from its worker's heartbeats, seconds.
    dispatch_grace: float = 1.0
    #: How often leases are checked, seconds.
    check_interval: float = 0.5
    #: Timeout of one request to the dbmanager, seconds.
    db_timeout: float = 5.0
    #: How long a final state is retried against the dbmanager before giving up, seconds.
    persist_timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JqManagerConfig:
        """Settings from ``FAAS_HOST``, ``PORT``, ``DB_URL`` and ``FAAS_*`` variables.

        Raises:
            ConfigError: a variable is malformed or out of range.
        """
        config = cls(
            bind=tcp_bind(
                env_str("FAAS_HOST", "127.0.0.1", env), env_int("PORT", DEFAULT_JQ_PORT, env)
            ),
            db_url=env_str("DB_URL", f"tcp://127.0.0.1:{DEFAULT_DB_PORT}", env),
            max_queue=env_int("FAAS_MAX_QUEUE", 100_000, env),
            user_max_active=env_int("FAAS_USER_MAX_ACTIVE", 100, env),
            user_rate=env_float("FAAS_USER_RATE", 120.0, env),
            lease_timeout=env_float("FAAS_LEASE_TIMEOUT", 3.0, env),
            max_attempts=env_int("FAAS_MAX_ATTEMPTS", 3, env),
            dispatch_grace=env_float("FAAS_DISPATCH_GRACE", 1.0, env),
        )
        for name, value in (
            ("FAAS_MAX_QUEUE", config.max_queue),
            ("FAAS_USER_MAX_ACTIVE", config.user_max_active),
            ("FAAS_LEASE_TIMEOUT", config.lease_timeout),
            ("FAAS_MAX_ATTEMPTS", config.max_attempts),
            ("FAAS_USER_RATE", config.user_rate),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name}={value} must be positive")
        return config
