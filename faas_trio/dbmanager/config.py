"""The dbmanager's settings, read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.config import DEFAULT_DB_PORT, ConfigError, env_float, env_int, env_str, tcp_bind
from ..store.open import check_store_url
from ..store.sqlite import check_sync

__all__ = ["DbManagerConfig"]

_DAY = 24 * 3600.0


@dataclass(frozen=True)
class DbManagerConfig:
    """Where the dbmanager keeps its data, where it listens, and how long jobs are kept."""

    #: ``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a ``mongodb://`` URL.
    store_url: str
    #: The ZeroMQ endpoint to bind, e.g. ``tcp://127.0.0.1:27444`` (``*`` as port: any free one).
    bind: str
    #: Seconds a finished job (and its logs) is kept before the sweep deletes it.
    retention: float = 7 * _DAY
    #: Seconds between two sweeps.
    sweep_interval: float = 3600.0
    #: SQLite: ``full`` (a commit survives a power loss) or ``normal`` (faster; it survives a
    #: crash of the process only).
    sqlite_sync: str = "full"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DbManagerConfig:
        """Settings from ``DB_URL`` (default: ``faas.db`` in ``FAAS_HOME``, else ``./.faas``),
        ``FAAS_HOST`` (127.0.0.1), ``PORT`` (27444), ``FAAS_JOB_RETENTION`` (7 days) and
        ``FAAS_SWEEP_INTERVAL`` (3600), both in seconds, and ``FAAS_SQLITE_SYNC`` (``full``).

        Raises:
            ConfigError: a variable is malformed (``DB_URL`` of no supported store too), or a
                duration is not positive.
        """
        # Absolute, so that a later change of working directory cannot move the database.
        home = Path(env_str("FAAS_HOME", ".faas", env)).absolute()
        host = env_str("FAAS_HOST", "127.0.0.1", env)
        config = cls(
            store_url=env_str("DB_URL", f"sqlite://{home.as_posix()}/faas.db", env),
            bind=tcp_bind(host, env_int("PORT", DEFAULT_DB_PORT, env)),
            retention=env_float("FAAS_JOB_RETENTION", 7 * _DAY, env),
            sweep_interval=env_float("FAAS_SWEEP_INTERVAL", 3600.0, env),
            sqlite_sync=check_sync(env_str("FAAS_SQLITE_SYNC", "full", env).lower()),
        )
        check_store_url(config.store_url)
        if config.retention <= 0:
            raise ConfigError(f"FAAS_JOB_RETENTION={config.retention:g} must be positive")
        if config.sweep_interval <= 0:
            raise ConfigError(f"FAAS_SWEEP_INTERVAL={config.sweep_interval:g} must be positive")
        return config
