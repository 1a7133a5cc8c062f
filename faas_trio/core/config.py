"""Reading settings from the environment.

Each component keeps one frozen dataclass of its settings, built by a ``from_env()`` that uses
the readers here, so every setting is parsed (and rejected when malformed) the same way. The old
system's variables keep their meaning (``DB_URL``, ``JQ_URL``, ``PORT``); new ones are ``FAAS_*``.
Durations are float seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = [
    "DEFAULT_DB_PORT",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_JQ_PORT",
    "ConfigError",
    "env_bool",
    "env_float",
    "env_int",
    "env_str",
    "tcp_bind",
]

DEFAULT_HTTP_PORT = 8080
DEFAULT_DB_PORT = 27444
DEFAULT_JQ_PORT = 27445


class ConfigError(ValueError):
    """A setting in the environment is malformed; the message names the variable."""


def env_str(name: str, default: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = env.get(name, "")
    return value if value != "" else default


def env_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    raw = env_str(name, "", env)
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None


def env_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, "", env)
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def env_bool(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, "", env).lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def tcp_bind(host: str, port: int) -> str:
    """The ZeroMQ endpoint a server binds: ``tcp://host:port`` (port 0 picks a free one)."""
    return f"tcp://{host}:{'*' if port == 0 else port}"
