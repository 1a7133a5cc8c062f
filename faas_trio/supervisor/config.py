"""The local supervisor's settings, read from the environment.

========================  ===========================================  =======================
variable                  meaning                                      default
========================  ===========================================  =======================
FAAS_HOME                 directory for local state (made absolute)    ./.faas
PORT                      the frontend's HTTP port                     8080
FAAS_DB_PORT              the dbmanager's RPC port                     27444
FAAS_JQ_PORT              the jqmanager's RPC port                     27445
DB_URL                    the store: a mongodb:// or sqlite: URL      sqlite in FAAS_HOME
FAAS_WORKERS              worker processes at start                    1
FAAS_WORKERS_MIN          fewest workers SetWorkers may ask for        1
FAAS_WORKERS_MAX          most workers SetWorkers may ask for          64
FAAS_DRAIN_TIMEOUT        seconds a removed worker may drain (+1)      4
FAAS_SHUTDOWN_GRACE       seconds between SIGTERM and SIGKILL on exit  4.5
========================  ===========================================  =======================

Every other variable passes through to the children untouched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import (
    DEFAULT_DB_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_JQ_PORT,
    ConfigError,
    env_float,
    env_int,
    env_str,
)

__all__ = ["ROLES", "SupervisorConfig"]

#: Every role the supervisor runs, in start order.
ROLES = ("dbmanager", "jqmanager", "frontend", "scaler", "worker")

_DB_URL_SCHEMES = ("mongodb://", "mongodb+srv://", "sqlite:")


@dataclass(frozen=True)
class SupervisorConfig:
    """Everything ``faas-trio up`` needs; validated on construction (raises ``ConfigError``)."""

    home: Path = Path(".faas").absolute()
    http_port: int = DEFAULT_HTTP_PORT
    db_port: int = DEFAULT_DB_PORT
    jq_port: int = DEFAULT_JQ_PORT
    #: The dbmanager's database; empty means SQLite at ``home/faas.db``.
    db_url: str = ""
    workers: int = 1
    workers_min: int = 1
    workers_max: int = 64
    #: The worker's own FAAS_DRAIN_TIMEOUT (same variable, same default).
    drain_timeout: float = 4.0
    shutdown_grace: float = 4.5
    #: First delay before restarting a crashed child; doubles up to ``restart_max_delay``.
    restart_delay: float = 0.5
    restart_max_delay: float = 10.0
    #: A child that stayed up this long counts as healthy: its next crash restarts quickly.
    stable_after: float = 30.0
    #: The environment children inherit (plus their role's own variables).
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Per-role command overrides (tests run dummy children this way); by default every role
    #: runs as ``python -m faas_trio <role>``.
    commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.home.is_absolute():
            raise ConfigError(f"FAAS_HOME={self.home}: must be absolute (from_env makes it so)")
        for name, port in (
            ("PORT", self.http_port),
            ("FAAS_DB_PORT", self.db_port),
            ("FAAS_JQ_PORT", self.jq_port),
        ):
            # Port 0 is refused: children are told each other's addresses before they bind.
            if not 0 < port < 65536:
                raise ConfigError(f"{name}={port}: need a port number in 1..65535")
        if self.db_url and not self.db_url.startswith(_DB_URL_SCHEMES):
            raise ConfigError(f"DB_URL={self.db_url!r}: use a mongodb:// or sqlite: URL")
        if not 0 <= self.workers_min <= self.workers_max:
            raise ConfigError(
                f"FAAS_WORKERS_MIN={self.workers_min} and FAAS_WORKERS_MAX={self.workers_max}:"
                " need 0 <= min <= max"
            )
        if self.workers < 0:
            raise ConfigError(f"FAAS_WORKERS={self.workers}: need >= 0")
        for name, value in (
            ("FAAS_DRAIN_TIMEOUT", self.drain_timeout),
            ("FAAS_SHUTDOWN_GRACE", self.shutdown_grace),
        ):
            if value < 0:
                raise ConfigError(f"{name}={value}: need >= 0 seconds")
        if not 0 < self.restart_delay <= self.restart_max_delay:
            raise ConfigError("need 0 < restart_delay <= restart_max_delay")

    @property
    def store_url(self) -> str:
        """The ``DB_URL`` the dbmanager gets."""
        return self.db_url or f"sqlite:///{self.home / 'faas.db'}"

    @property
    def initial_workers(self) -> int:
        """``workers`` clamped to ``[workers_min, workers_max]``."""
        return self.clamp_workers(self.workers)

    def clamp_workers(self, count: int) -> int:
        return max(self.workers_min, min(self.workers_max, count))

    def command(self, role: str) -> tuple[str, ...]:
        """The command line that runs ``role``; it names the role, so ``ps`` shows it."""
        return self.commands.get(role, (sys.executable, "-m", "faas_trio", role))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SupervisorConfig:
        """Read the variables in the module docstring; unset or empty ones take defaults."""
        env = dict(os.environ) if env is None else dict(env)
        d = cls(base_env={})
        return cls(
            home=Path(env_str("FAAS_HOME", ".faas", env)).absolute(),
            http_port=env_int("PORT", d.http_port, env),
            db_port=env_int("FAAS_DB_PORT", d.db_port, env),
            jq_port=env_int("FAAS_JQ_PORT", d.jq_port, env),
            db_url=env_str("DB_URL", "", env),
            workers=env_int("FAAS_WORKERS", d.workers, env),
            workers_min=env_int("FAAS_WORKERS_MIN", d.workers_min, env),
            workers_max=env_int("FAAS_WORKERS_MAX", d.workers_max, env),
            drain_timeout=env_float("FAAS_DRAIN_TIMEOUT", d.drain_timeout, env),
            shutdown_grace=env_float("FAAS_SHUTDOWN_GRACE", d.shutdown_grace, env),
            base_env=env,
        )
