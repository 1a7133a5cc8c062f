"""The dbmanager's settings, read from the environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import DEFAULT_DB_PORT, ConfigError, env_float, env_int, env_str, tcp_bind
from ..core.packages import PipSource
from ..store.open import check_store_url
from .builds import BuildSettings

__all__ = ["DbManagerConfig"]

_DAY = 24 * 3600.0
_SYSTEM_PYTHON = "/usr/bin/python3"


def _default_python() -> str:
    return _SYSTEM_PYTHON if os.path.exists(_SYSTEM_PYTHON) else sys.executable


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
    #: How package environments are resolved (see :mod:`.builds`).
    builds: BuildSettings = field(
        default_factory=lambda: BuildSettings(_default_python(), PipSource())
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DbManagerConfig:
        """Settings from ``DB_URL`` (default: ``faas.db`` in ``FAAS_HOME``, else ``./.faas``),
        ``FAAS_HOST`` (127.0.0.1), ``PORT`` (27444), ``FAAS_JOB_RETENTION`` (7 days) and
        ``FAAS_SWEEP_INTERVAL`` (3600), both in seconds. Builds of package environments:
        ``FAAS_SANDBOX_PYTHON`` (the interpreter they are for, as the workers'),
        ``FAAS_PIP_INDEX_URL``, ``FAAS_PIP_FIND_LINKS``, ``FAAS_BUILD_TIMEOUT`` (300 s),
        ``FAAS_BUILDS_MAX`` (2 at once), ``FAAS_BUILD_LOG_CAP`` (65536 bytes).

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
            builds=BuildSettings(
                python=env_str("FAAS_SANDBOX_PYTHON", _default_python(), env),
                source=PipSource.from_env(env),
                timeout=env_float("FAAS_BUILD_TIMEOUT", 300.0, env),
                max_builds=env_int("FAAS_BUILDS_MAX", 2, env),
                log_cap=env_int("FAAS_BUILD_LOG_CAP", 64 * 1024, env),
            ),
        )
        if config.builds.timeout <= 0 or config.builds.max_builds < 1:
            raise ConfigError("FAAS_BUILD_TIMEOUT must be positive and FAAS_BUILDS_MAX >= 1")
        if config.builds.log_cap < 1024:
            raise ConfigError(f"FAAS_BUILD_LOG_CAP={config.builds.log_cap} must be >= 1024")
        check_store_url(config.store_url)
        if config.retention <= 0:
            raise ConfigError(f"FAAS_JOB_RETENTION={config.retention:g} must be positive")
        if config.sweep_interval <= 0:
            raise ConfigError(f"FAAS_SWEEP_INTERVAL={config.sweep_interval:g} must be positive")
        return config
