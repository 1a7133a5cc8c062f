"""The scaler's settings, read from the environment through the settings table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import ConfigError, check_fields, from_env, setting
from ..core.settings_workers import default_workers_max

__all__ = ["ScalerConfig"]


@dataclass(frozen=True)
class ScalerConfig:
    """Everything the scaler needs (the variables are in :mod:`faas_trio.core.settings`);
    validated on construction (raises ``ConfigError``)."""

    jq_url: str = setting("JQ_URL")
    interval: float = setting("FAAS_SCALER_INTERVAL")
    #: Ceiling on one GetStats round trip.
    stats_timeout: float = 2.0
    policy: str = setting("FAAS_SCALER_POLICY")
    actuator: str = setting("FAAS_SCALER_ACTUATOR")
    workers_min: int = setting("FAAS_WORKERS_MIN")
    workers_max: int = setting("FAAS_WORKERS_MAX")
    worker_concurrency: int = setting("FAAS_WORKER_CONCURRENCY")
    scale_down_delay: float = setting("FAAS_SCALE_DOWN_DELAY")
    #: The supervisor's endpoint; ``faas-trio up`` sets it. None: no supervisor.
    supervisor_url: str | None = setting("FAAS_SUPERVISOR_URL")
    #: Ceiling on one SetWorkers round trip to the supervisor.
    supervisor_timeout: float = 5.0
    kumori_credentials: str = setting("KUMORI_CREDENTIALS")
    kumori_deployment: str = setting("FAAS_KUMORI_DEPLOYMENT")
    kumori_manifests: str = setting("FAAS_KUMORI_MANIFESTS")
    kumorictl: str = setting("FAAS_KUMORICTL")
    kumorictl_timeout: float = setting("FAAS_KUMORICTL_TIMEOUT")

    def __post_init__(self) -> None:
        if self.workers_max is None:  # unset: the ceiling that suits the actuator
            ceiling = default_workers_max(self.actuator, self.workers_min)
            object.__setattr__(self, "workers_max", ceiling)
        check_fields(self)
        if self.workers_min > self.workers_max:
            raise ConfigError(
                f"FAAS_WORKERS_MIN={self.workers_min} and FAAS_WORKERS_MAX={self.workers_max}:"
                " need min <= max"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScalerConfig:
        """Read the scaler's variables; unset or empty ones take defaults.

        Raises:
            ConfigError: a variable is malformed or out of range; the message names it.
        """
        config = from_env(cls, "scaler", env)
        if config.actuator == "local" and config.supervisor_url is None:
            raise ConfigError(
                "FAAS_SUPERVISOR_URL is unset: the local actuator resizes the workers of"
                " `faas-trio up`, which sets it; run the scaler under `up`, or set"
                " FAAS_SCALER_ACTUATOR=kumori"
            )
        return config
