"""The worker's settings, read from the environment."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.config import DEFAULT_JQ_PORT, ConfigError, env_bool, env_float, env_int, env_str
from ..core.packages import PipSource
from .sandbox.isolation import SANDBOX_MODES
from .sandbox.spawn import SpawnSettings

__all__ = ["WorkerConfig"]

_SYSTEM_PYTHON = "/usr/bin/python3"


def _default_python() -> str:
    return _SYSTEM_PYTHON if os.path.exists(_SYSTEM_PYTHON) else sys.executable


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker reads from its environment.

    =========================  ==========================================  =================
    variable                   meaning                                     default
    =========================  ==========================================  =================
    JQ_URL                     the jqmanager's endpoint                    tcp://127.0.0.1:27445
    FAAS_WORKER_CONCURRENCY    jobs run at once (slots)                    4
    FAAS_DRAIN_TIMEOUT         on shutdown, seconds running jobs may take  4
    FAAS_WARM_TTL              seconds an idle warm child is kept          60
    FAAS_WARM_MAX              warm children kept at most                  16
    FAAS_LOG_CAP               bytes of output kept per call               1048576
    FAAS_RESULT_CAP            bytes a call's result may have; a larger
                               one fails the call (ResultTooLarge)         1048576
    FAAS_INIT_TIMEOUT          seconds to start a child and load source    10
    FAAS_DEFAULT_MEMORY_MB     memory of a function that sets none         128
    FAAS_SANDBOX_PYTHON        interpreter for Python functions            /usr/bin/python3
    FAAS_NODE                  node for JavaScript functions               ``node`` on PATH
    FAAS_HOME                  state directory; scratch dirs go in
                               ``$FAAS_HOME/scratch``                      ./.faas
    FAAS_SANDBOX_UID_BASE      first uid sandboxes run as                  61000
    FAAS_SANDBOX_UID_COUNT     uids sandboxes may use (shared by every
                               worker on the machine; at least
                               concurrency + warm max)                     1000
    FAAS_SANDBOX_NPROC         processes and threads per sandbox           64
    FAAS_SANDBOX               ``strict``: confine every sandbox, refuse
                               to start if this machine cannot; ``off``:
                               run functions unconfined (refused by the
                               frontend in keys mode)                      strict
    FAAS_SANDBOX_SCRATCH_MB    size of a sandbox's scratch tmpfs (it also
                               counts towards the function's memory)       64
    FAAS_ZYGOTES_MAX           zygotes of package environments kept        4
    FAAS_ZYGOTE_PRELOAD        whether they import the packages first      1
    FAAS_ENVS_MAX_BYTES        disk the environments may take, bytes       10 GiB
    FAAS_ENV_INSTALL_TIMEOUT   seconds to install one environment          300
    FAAS_PIP_INDEX_URL,        where the wheels come from (as the          pip's settings
    FAAS_PIP_FIND_LINKS        dbmanager's builds)
    FAAS_SECRETS_KEY           the key secrets are sealed with             $FAAS_HOME/secrets.key
    =========================  ==========================================  =================
    """

    jq_url: str = f"tcp://127.0.0.1:{DEFAULT_JQ_PORT}"
    concurrency: int = 4
    drain_timeout: float = 4.0
    warm_ttl: float = 60.0
    warm_max: int = 16
    log_cap: int = 1 << 20
    result_cap: int = 1 << 20
    init_timeout: float = 10.0
    default_memory_mb: int = 128
    sandbox_python: str = _SYSTEM_PYTHON
    node: str | None = None
    scratch_dir: Path = Path(".faas/scratch")
    sandbox_uid_base: int = 61000
    sandbox_uid_count: int = 1000
    sandbox_nproc: int = 64
    sandbox: str = "strict"
    sandbox_scratch_mb: int = 64
    zygotes_max: int = 4
    zygote_preload: bool = True
    envs_dir: Path = Path(".faas/envs")
    envs_max_bytes: int = 10 << 30
    env_install_timeout: float = 300.0
    pip_source: PipSource = PipSource()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        """Read the settings; raises ConfigError naming a malformed or out-of-range one."""
        env = os.environ if env is None else env
        node = env_str("FAAS_NODE", "", env) or shutil.which("node")
        config = cls(
            jq_url=env_str("JQ_URL", cls.jq_url, env),
            concurrency=env_int("FAAS_WORKER_CONCURRENCY", cls.concurrency, env),
            drain_timeout=env_float("FAAS_DRAIN_TIMEOUT", cls.drain_timeout, env),
            warm_ttl=env_float("FAAS_WARM_TTL", cls.warm_ttl, env),
            warm_max=env_int("FAAS_WARM_MAX", cls.warm_max, env),
            log_cap=env_int("FAAS_LOG_CAP", cls.log_cap, env),
            result_cap=env_int("FAAS_RESULT_CAP", cls.result_cap, env),
            init_timeout=env_float("FAAS_INIT_TIMEOUT", cls.init_timeout, env),
            default_memory_mb=env_int("FAAS_DEFAULT_MEMORY_MB", cls.default_memory_mb, env),
            sandbox_python=env_str("FAAS_SANDBOX_PYTHON", _default_python(), env),
            node=os.path.realpath(node) if node else None,
            scratch_dir=Path(env_str("FAAS_HOME", ".faas", env)).resolve() / "scratch",
            sandbox_uid_base=env_int("FAAS_SANDBOX_UID_BASE", cls.sandbox_uid_base, env),
            sandbox_uid_count=env_int("FAAS_SANDBOX_UID_COUNT", cls.sandbox_uid_count, env),
            sandbox_nproc=env_int("FAAS_SANDBOX_NPROC", cls.sandbox_nproc, env),
            sandbox=env_str("FAAS_SANDBOX", cls.sandbox, env),
            sandbox_scratch_mb=env_int("FAAS_SANDBOX_SCRATCH_MB", cls.sandbox_scratch_mb, env),
            zygotes_max=env_int("FAAS_ZYGOTES_MAX", cls.zygotes_max, env),
            zygote_preload=env_bool("FAAS_ZYGOTE_PRELOAD", cls.zygote_preload, env),
            envs_dir=Path(env_str("FAAS_HOME", ".faas", env)).resolve() / "envs",
            envs_max_bytes=env_int("FAAS_ENVS_MAX_BYTES", cls.envs_max_bytes, env),
            env_install_timeout=env_float(
                "FAAS_ENV_INSTALL_TIMEOUT", cls.env_install_timeout, env
            ),
            pip_source=PipSource.from_env(env),
        )
        config.check()
        return config

    def check(self) -> None:
        """Raise ConfigError if a setting is out of range."""
        for name, value in (
            ("FAAS_WORKER_CONCURRENCY", self.concurrency),
            ("FAAS_WARM_MAX", self.warm_max),
            ("FAAS_LOG_CAP", self.log_cap),
            ("FAAS_RESULT_CAP", self.result_cap),
            ("FAAS_DEFAULT_MEMORY_MB", self.default_memory_mb),
            ("FAAS_SANDBOX_UID_BASE", self.sandbox_uid_base),
            ("FAAS_SANDBOX_NPROC", self.sandbox_nproc),
            ("FAAS_SANDBOX_SCRATCH_MB", self.sandbox_scratch_mb),
            ("FAAS_ZYGOTES_MAX", self.zygotes_max),
            ("FAAS_ENVS_MAX_BYTES", self.envs_max_bytes),
        ):
            if value < 1:
                raise ConfigError(f"{name}={value} must be at least 1")
        if self.sandbox not in SANDBOX_MODES:
            raise ConfigError(
                f"FAAS_SANDBOX={self.sandbox!r} must be one of {', '.join(SANDBOX_MODES)}"
            )
        if self.sandbox_uid_count < self.concurrency + self.warm_max:
            raise ConfigError(
                f"FAAS_SANDBOX_UID_COUNT={self.sandbox_uid_count} must be at least"
                f" FAAS_WORKER_CONCURRENCY + FAAS_WARM_MAX ({self.concurrency + self.warm_max})"
            )
        for name, seconds in (
            ("FAAS_DRAIN_TIMEOUT", self.drain_timeout),
            ("FAAS_WARM_TTL", self.warm_ttl),
            ("FAAS_INIT_TIMEOUT", self.init_timeout),
            ("FAAS_ENV_INSTALL_TIMEOUT", self.env_install_timeout),
        ):
            if seconds < 0:
                raise ConfigError(f"{name}={seconds} must not be negative")

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
