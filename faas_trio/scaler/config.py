"""The scaler's settings, read from the environment.

========================  =====================================  ==========================
variable                  meaning                                default
========================  =====================================  ==========================
JQ_URL                    the jqmanager's endpoint               tcp://127.0.0.1:27445
FAAS_SCALER_INTERVAL      seconds between rounds                 2
FAAS_SCALER_POLICY        ``target`` or ``double`` (the old one)  target
FAAS_SCALER_ACTUATOR      ``local`` (supervisor) or ``kumori``   local
FAAS_WORKERS_MIN          fewest workers                         1
FAAS_WORKERS_MAX          most workers                           64
FAAS_WORKER_CONCURRENCY   jobs one worker runs at once           4
FAAS_SCALE_DOWN_DELAY     seconds of low demand before shrinking 30
FAAS_SUPERVISOR_URL       the local supervisor's endpoint        tcp://127.0.0.1:27446
KUMORI_CREDENTIALS        file with the Kumori user and password KUMORI_CREDENTIALS
FAAS_KUMORI_DEPLOYMENT    the deployment to resize               faasdep
FAAS_KUMORI_MANIFESTS     the scaler's copy of the CUE manifests ./manifests
FAAS_KUMORICTL            the kumorictl executable               kumorictl
FAAS_KUMORICTL_TIMEOUT    seconds one kumorictl command may take 60
========================  =====================================  ==========================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import DEFAULT_JQ_PORT, ConfigError, env_float, env_int, env_str

__all__ = ["DEFAULT_SUPERVISOR_URL", "ScalerConfig"]

DEFAULT_SUPERVISOR_URL = "tcp://127.0.0.1:27446"

_POLICIES = ("target", "double")
_ACTUATORS = ("local", "kumori")


@dataclass(frozen=True)
class ScalerConfig:
    """Everything the scaler needs; validated on construction (raises ``ConfigError``)."""

    jq_url: str = f"tcp://127.0.0.1:{DEFAULT_JQ_PORT}"
    interval: float = 2.0
    #: Ceiling on one GetStats round trip.
    stats_timeout: float = 2.0
    policy: str = "target"
    actuator: str = "local"
    workers_min: int = 1
    workers_max: int = 64
    worker_concurrency: int = 4
    scale_down_delay: float = 30.0
    supervisor_url: str = DEFAULT_SUPERVISOR_URL
    #: Ceiling on one SetWorkers round trip to the supervisor.
    supervisor_timeout: float = 5.0
    kumori_credentials: str = "KUMORI_CREDENTIALS"
    kumori_deployment: str = "faasdep"
    kumori_manifests: str = "./manifests"
    kumorictl: str = "kumorictl"
    kumorictl_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.policy not in _POLICIES:
            raise ConfigError(f"FAAS_SCALER_POLICY={self.policy!r}: use one of {_POLICIES}")
        if self.actuator not in _ACTUATORS:
            raise ConfigError(f"FAAS_SCALER_ACTUATOR={self.actuator!r}: use one of {_ACTUATORS}")
        if not 0 <= self.workers_min <= self.workers_max:
            raise ConfigError(
                f"FAAS_WORKERS_MIN={self.workers_min} and FAAS_WORKERS_MAX={self.workers_max}:"
                " need 0 <= min <= max"
            )
        if self.worker_concurrency < 1:
            raise ConfigError(f"FAAS_WORKER_CONCURRENCY={self.worker_concurrency}: need >= 1")
        for name, value in (
            ("FAAS_SCALER_INTERVAL", self.interval),
            ("FAAS_KUMORICTL_TIMEOUT", self.kumorictl_timeout),
        ):
            if value <= 0:
                raise ConfigError(f"{name}={value}: need a positive number of seconds")
        if self.scale_down_delay < 0:
            raise ConfigError(f"FAAS_SCALE_DOWN_DELAY={self.scale_down_delay}: need >= 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScalerConfig:
        """Read the variables in the module docstring; unset or empty ones take defaults."""
        d = cls()
        return cls(
            jq_url=env_str("JQ_URL", d.jq_url, env),
            interval=env_float("FAAS_SCALER_INTERVAL", d.interval, env),
            policy=env_str("FAAS_SCALER_POLICY", d.policy, env).lower(),
            actuator=env_str("FAAS_SCALER_ACTUATOR", d.actuator, env).lower(),
            workers_min=env_int("FAAS_WORKERS_MIN", d.workers_min, env),
            workers_max=env_int("FAAS_WORKERS_MAX", d.workers_max, env),
            worker_concurrency=env_int("FAAS_WORKER_CONCURRENCY", d.worker_concurrency, env),
            scale_down_delay=env_float("FAAS_SCALE_DOWN_DELAY", d.scale_down_delay, env),
            supervisor_url=env_str("FAAS_SUPERVISOR_URL", d.supervisor_url, env),
            kumori_credentials=env_str("KUMORI_CREDENTIALS", d.kumori_credentials, env),
            kumori_deployment=env_str("FAAS_KUMORI_DEPLOYMENT", d.kumori_deployment, env),
            kumori_manifests=env_str("FAAS_KUMORI_MANIFESTS", d.kumori_manifests, env),
            kumorictl=env_str("FAAS_KUMORICTL", d.kumorictl, env),
            kumorictl_timeout=env_float("FAAS_KUMORICTL_TIMEOUT", d.kumorictl_timeout, env),
        )
