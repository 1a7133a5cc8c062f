"""The worker's settings, read from the environment."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.config import ConfigError, check_fields, from_env, read, setting
from ..core.packages import PipSource
from .sandbox.spawn import DEFAULT_UID_BASE, SpawnSettings

__all__ = ["WorkerConfig"]

_SYSTEM_PYTHON = "/usr/bin/python3"


def _default_python() -> str:
    return _SYSTEM_PYTHON if os.path.exists(_SYSTEM_PYTHON) else sys.executable


#: Uids a sandbox must never run as: a function could then signal or trace what runs as them.
_RESERVED_UIDS = (
    (61184, 65519, "systemd's DynamicUser range"),
    (65534, 65535, "nobody and the 16-bit (uid_t) -1"),
    (4294967295, 1 << 40, "the 32-bit (uid_t) -1"),
)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker reads from its environment (the variables are in
    :mod:`faas_trio.core.settings`). Validated on construction (raises ``ConfigError``)."""

    jq_url: str = setting("JQ_URL")
    concurrency: int = setting("FAAS_WORKER_CONCURRENCY")
    drain_timeout: float = setting("FAAS_DRAIN_TIMEOUT")
    warm_ttl: float = setting("FAAS_WARM_TTL")
    warm_max: int = setting("FAAS_WARM_MAX")
    log_cap: int = setting("FAAS_LOG_CAP")
    result_cap: int = setting("FAAS_RESULT_CAP")
    init_timeout: float = setting("FAAS_INIT_TIMEOUT")
    default_memory_mb: int = setting("FAAS_DEFAULT_MEMORY_MB")
    #: FAAS_SANDBOX_PYTHON, else /usr/bin/python3 when present, else this interpreter.
    sandbox_python: str = _SYSTEM_PYTHON
    #: FAAS_NODE, else ``node`` on PATH (resolved); None: no Node.js.
    node: str | None = None
    #: ``$FAAS_HOME/scratch``.
    scratch_dir: Path = Path(".faas/scratch")
    sandbox_uid_base: int = setting("FAAS_SANDBOX_UID_BASE")
    sandbox_uid_count: int = setting("FAAS_SANDBOX_UID_COUNT")
    sandbox_nproc: int = setting("FAAS_SANDBOX_NPROC")
    sandbox: str = setting("FAAS_SANDBOX")
    sandbox_scratch_mb: int = setting("FAAS_SANDBOX_SCRATCH_MB")
    zygotes_max: int = setting("FAAS_ZYGOTES_MAX")
    zygote_preload: bool = setting("FAAS_ZYGOTE_PRELOAD")
    envs_max_bytes: int = setting("FAAS_ENVS_MAX_BYTES")
    env_install_timeout: float = setting("FAAS_ENV_INSTALL_TIMEOUT")
    #: ``$FAAS_HOME/envs``.
    envs_dir: Path = Path(".faas/envs")
    #: FAAS_PIP_INDEX_URL and FAAS_PIP_FIND_LINKS.
    pip_source: PipSource = PipSource()

    def __post_init__(self) -> None:
        check_fields(self)
        last_uid = self.sandbox_uid_base + self.sandbox_uid_count - 1
        for low, high, what in _RESERVED_UIDS:
            if self.sandbox_uid_base <= high and low <= last_uid:
                raise ConfigError(
                    f"FAAS_SANDBOX_UID_BASE={self.sandbox_uid_base} and FAAS_SANDBOX_UID_COUNT="
                    f"{self.sandbox_uid_count} take uids {self.sandbox_uid_base}-{last_uid},"
                    f" which overlap {what} ({low}-{high}); the default base is"
                    f" {DEFAULT_UID_BASE}"
                )
        if self.sandbox_uid_count < self.concurrency + self.warm_max:
            raise ConfigError(
                f"FAAS_SANDBOX_UID_COUNT={self.sandbox_uid_count} must be at least"
                f" FAAS_WORKER_CONCURRENCY + FAAS_WARM_MAX ({self.concurrency + self.warm_max})"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        """Read the settings; raises ConfigError naming a malformed or out-of-range one."""
        values = read("worker", env)
        node = values["FAAS_NODE"] or shutil.which("node")
        return from_env(
            cls,
            "worker",
            env,
            sandbox_python=values["FAAS_SANDBOX_PYTHON"] or _default_python(),
            node=os.path.realpath(node) if node else None,
            scratch_dir=Path(values["FAAS_HOME"]).resolve() / "scratch",
            envs_dir=Path(values["FAAS_HOME"]).resolve() / "envs",
            pip_source=PipSource(values["FAAS_PIP_INDEX_URL"], values["FAAS_PIP_FIND_LINKS"]),
        )

    @property
    def spawn_settings(self) -> SpawnSettings:
        """What spawning a runner child needs (the confinement mode and cgroups are the
        worker's to find out at start: see :mod:`.sandbox.isolation`)."""
        return SpawnSettings(
            python=self.sandbox_python,
            node=self.node,
            scratch_root=self.scratch_dir.resolve(),
            log_cap=self.log_cap,
            uid_base=self.sandbox_uid_base,
            uid_count=self.sandbox_uid_count,
            nproc=self.sandbox_nproc,
            mode="off" if self.sandbox == "off" else "",
            scratch_mb=self.sandbox_scratch_mb,
        )
