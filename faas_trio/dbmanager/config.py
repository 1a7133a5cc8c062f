"""The dbmanager's settings, read from the environment through the settings table."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.config import check_fields, from_env, read, setting, tcp_bind
from ..core.packages import PipSource
from ..store.open import check_store_url
from .builds import BuildSettings

__all__ = ["DbManagerConfig"]

_SYSTEM_PYTHON = "/usr/bin/python3"


def _default_python() -> str:
    return _SYSTEM_PYTHON if os.path.exists(_SYSTEM_PYTHON) else sys.executable


@dataclass(frozen=True)
class DbManagerConfig:
    """Where the dbmanager keeps its data, where it listens, and how long jobs are kept (the
    variables are in :mod:`faas_trio.core.settings`). Validated on construction (raises
    ``ConfigError``)."""

    #: ``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a ``mongodb://`` URL (``DB_URL``;
    #: from_env's default: ``faas.db`` in ``FAAS_HOME``).
    store_url: str
    #: The ZeroMQ endpoint to bind, e.g. ``tcp://127.0.0.1:27444`` (``*`` as port: any free one).
    bind: str
    retention: float = setting("FAAS_JOB_RETENTION")
    sweep_interval: float = setting("FAAS_SWEEP_INTERVAL")
    #: Bytes one user's jobs may hold (:mod:`.stored_bytes`).
    max_stored_bytes: int = setting("FAAS_MAX_STORED_BYTES")
    build_timeout: float = setting("FAAS_BUILD_TIMEOUT")
    builds_max: int = setting("FAAS_BUILDS_MAX")
    build_log_cap: int = setting("FAAS_BUILD_LOG_CAP")
    #: FAAS_SANDBOX_PYTHON, else /usr/bin/python3 when present, else this interpreter: the
    #: interpreter environments are resolved for (the workers' sandboxes').
    sandbox_python: str = _SYSTEM_PYTHON
    #: FAAS_PIP_INDEX_URL and FAAS_PIP_FIND_LINKS.
    pip_source: PipSource = PipSource()
    #: SQLite: ``full`` (a commit survives a power loss) or ``normal`` (faster; it survives a
    #: crash of the process only).
    sqlite_sync: str = setting("FAAS_SQLITE_SYNC")

    def __post_init__(self) -> None:
        check_fields(self)
        check_store_url(self.store_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DbManagerConfig:
        """Settings from the environment (default: the process's).

        Raises:
            ConfigError: a variable is malformed (``DB_URL`` of no supported store too), or a
                duration is not positive.
        """
        values = read("dbmanager", env)
        # Absolute, so that a later change of working directory cannot move the database.
        home = Path(values["FAAS_HOME"]).absolute()
        return from_env(
            cls,
            "dbmanager",
            env,
            store_url=values["DB_URL"] or f"sqlite://{home.as_posix()}/faas.db",
            bind=tcp_bind(values["FAAS_HOST"], values["PORT"]),
            sandbox_python=values["FAAS_SANDBOX_PYTHON"] or _default_python(),
            pip_source=PipSource(values["FAAS_PIP_INDEX_URL"], values["FAAS_PIP_FIND_LINKS"]),
        )

    @property
    def builds(self) -> BuildSettings:
        """How package environments are resolved (see :mod:`.builds`)."""
        return BuildSettings(
            python=self.sandbox_python,
            source=self.pip_source,
            timeout=self.build_timeout,
            max_builds=self.builds_max,
            log_cap=self.build_log_cap,
        )
