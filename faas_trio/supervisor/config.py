"""The local supervisor's settings, read from the environment through the settings table.

Every other variable passes through to the children untouched; ``faas-trio up`` checks every
component's settings before it starts any (a malformed one exits 2 at once, not in a child).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import ConfigError, check_fields, from_env, read, setting
from ..core.settings import COMPONENTS
from ..core.settings_workers import default_workers_max

__all__ = ["ROLES", "SET_FOR_CHILDREN", "SupervisorConfig"]

#: Variables the supervisor sets for each child itself (its own values of them mean
#: something else, or nothing, to the child).
SET_FOR_CHILDREN = ("PORT", "DB_URL", "JQ_URL", "FAAS_SUPERVISOR_URL", "FAAS_SCALER_ACTUATOR")

#: Every role the supervisor runs, in start order.
ROLES = ("dbmanager", "jqmanager", "frontend", "scaler", "worker")


@dataclass(frozen=True)
class SupervisorConfig:
    """Everything ``faas-trio up`` needs; validated on construction (raises ``ConfigError``)."""

    home: Path = Path(".faas").absolute()
    http_port: int = setting("PORT", "up")
    db_port: int = setting("FAAS_DB_PORT")
    jq_port: int = setting("FAAS_JQ_PORT")
    #: The dbmanager's database; None means SQLite at ``home/faas.db``.
    db_url: str | None = setting("DB_URL", "up")
    workers: int = setting("FAAS_WORKERS")
    workers_min: int = setting("FAAS_WORKERS_MIN")
    workers_max: int = setting("FAAS_WORKERS_MAX")
    #: The worker's own FAAS_DRAIN_TIMEOUT (same variable, same default).
    drain_timeout: float = setting("FAAS_DRAIN_TIMEOUT")
    shutdown_grace: float = setting("FAAS_SHUTDOWN_GRACE")
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
        if self.workers_max is None:  # unset: two per CPU, as the scaler under `up` decides
            object.__setattr__(self, "workers_max", default_workers_max("local", self.workers_min))
        check_fields(self)
        if not self.home.is_absolute():
            raise ConfigError(f"FAAS_HOME={self.home}: must be absolute (from_env makes it so)")
        # Port 0 is refused: children are told each other's addresses before they bind.
        if self.http_port == 0:
            raise ConfigError("PORT=0: `up` needs a port number in 1..65535")
        if self.workers_min > self.workers_max:
            raise ConfigError(
                f"FAAS_WORKERS_MIN={self.workers_min} and FAAS_WORKERS_MAX={self.workers_max}:"
                " need min <= max"
            )
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
        """Read ``up``'s variables, after checking every component's (the children inherit
        them); unset or empty ones take defaults.

        Raises:
            ConfigError: any component's variable is malformed; the message names it.
        """
        env = dict(os.environ) if env is None else dict(env)
        # The addresses are the supervisor's to set (tree.role_env); the rest children inherit.
        inherited = {k: v for k, v in env.items() if k not in SET_FOR_CHILDREN}
        for component in COMPONENTS:
            read(component, inherited)
        home = Path(read("up", env)["FAAS_HOME"]).absolute()
        return from_env(cls, "up", env, home=home, base_env=env)
