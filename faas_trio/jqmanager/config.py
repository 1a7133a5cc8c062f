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

__all__ = ["KEYS_MODE_USER_RATE", "MAX_BATCH_LIMIT", "JqManagerConfig", "default_user_rate"]

#: Submissions per user and minute in ``keys`` mode unless ``FAAS_USER_RATE`` says otherwise:
#: 100 a second, more than a person or a script calling in a loop over HTTP keeps up (a map is
#: one submission), while a runaway client is told to slow down.
KEYS_MODE_USER_RATE = 6000.0
#: The largest ``FAAS_MAX_BATCH``.
MAX_BATCH_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
class JqManagerConfig:
    """Where the jqmanager listens, where its dbmanager is, and its limits."""

    #: The ZeroMQ endpoint the ROUTER binds (``tcp://host:*`` picks a free port).
    bind: str = tcp_bind("127.0.0.1", DEFAULT_JQ_PORT)
    #: The dbmanager's ZeroMQ endpoint.
    db_url: str = f"tcp://127.0.0.1:{DEFAULT_DB_PORT}"
    #: Queued jobs at most, over all users; every item of a map counts (beyond:
    #: ``TooManyRequests``).
    max_queue: int = 1_000_000
    #: Queued plus running jobs per user at most; every item of a map counts. The default
    #: admits one map of the largest size (``FAAS_MAP_MAX_ITEMS``, 100,000).
    user_max_active: int = 100_000
    #: Submissions (a call or a whole map) per user and minute at most, in bursts of as many;
    #: 0: no limit (the default in ``open`` mode).
    user_rate: float = 0.0
    #: Jobs of one function a worker slot may take in one dispatch (``FAAS_MAX_BATCH``).
    max_batch: int = 16
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
            max_queue=env_int("FAAS_MAX_QUEUE", cls.max_queue, env),
            user_max_active=env_int("FAAS_USER_MAX_ACTIVE", cls.user_max_active, env),
            user_rate=env_float("FAAS_USER_RATE", default_user_rate(env), env),
            max_batch=env_int("FAAS_MAX_BATCH", cls.max_batch, env),
            lease_timeout=env_float("FAAS_LEASE_TIMEOUT", 3.0, env),
            max_attempts=env_int("FAAS_MAX_ATTEMPTS", 3, env),
            dispatch_grace=env_float("FAAS_DISPATCH_GRACE", 1.0, env),
        )
        for name, value in (
            ("FAAS_MAX_QUEUE", config.max_queue),
            ("FAAS_USER_MAX_ACTIVE", config.user_max_active),
            ("FAAS_LEASE_TIMEOUT", config.lease_timeout),
            ("FAAS_MAX_ATTEMPTS", config.max_attempts),
            ("FAAS_MAX_BATCH", config.max_batch),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name}={value} must be positive")
        if not (config.user_rate >= 0 and math.isfinite(config.user_rate)):
            raise ConfigError(f"FAAS_USER_RATE={config.user_rate} must be 0 (no limit) or more")
        if config.max_batch > MAX_BATCH_LIMIT:
            raise ConfigError(
                f"FAAS_MAX_BATCH={config.max_batch} must be at most {MAX_BATCH_LIMIT}"
            )
        if config.user_max_active > config.max_queue:
            raise ConfigError(
                f"FAAS_USER_MAX_ACTIVE={config.user_max_active} is larger than"
                f" FAAS_MAX_QUEUE={config.max_queue}: one user could never fill its share"
            )
        return config


def default_user_rate(env: Mapping[str, str] | None) -> float:
    """``FAAS_USER_RATE`` when unset: no limit in ``open`` mode (the old API had none);
    :data:`KEYS_MODE_USER_RATE` with ``FAAS_AUTH=keys``."""
    auth = env_str("FAAS_AUTH", "open", env)
    return KEYS_MODE_USER_RATE if auth == "keys" else 0.0
