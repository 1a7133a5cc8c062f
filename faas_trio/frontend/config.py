"""The frontend's settings, read from the environment.

``PORT``, ``DB_URL`` and ``JQ_URL`` keep the old system's meaning; the rest are ``FAAS_*``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import (
    DEFAULT_DB_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_JQ_PORT,
    ConfigError,
    env_float,
    env_int,
    env_str,
)

__all__ = ["AUTH_MODES", "FrontendConfig", "default_auth", "parse_allow_list"]

#: ``keys``: every request carries a user's API key (or the admin key); ``open``: no
#: authentication, the old API exactly.
AUTH_MODES = ("keys", "open")

_LOOPBACK_HOSTS = ("localhost", "::1")
_ALLOW_ENTRY = re.compile(r"(?:[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def default_auth(host: str) -> str:
    """``open`` when the frontend listens on loopback only (nobody else can reach it), else
    ``keys``."""
    return "open" if host in _LOOPBACK_HOSTS or host.startswith("127.") else "keys"


def parse_allow_list(raw: str) -> tuple[str, ...]:
    """``FAAS_CALLBACK_ALLOW``: comma-separated ``host`` or ``host:port`` entries, lowercased
    (an IPv6 host in brackets).

    Raises:
        ConfigError: an entry is not a host or host:port (a scheme, a path, a bad port).
    """
    entries: list[str] = []
    for item in raw.split(","):
        entry = item.strip().lower()
        if not entry:
            continue
        if _ALLOW_ENTRY.fullmatch(entry) is None:
            raise ConfigError(f"FAAS_CALLBACK_ALLOW entry {item.strip()!r} is not host[:port]")
        entries.append(entry)
    return tuple(entries)


@dataclass(frozen=True, kw_only=True)
class FrontendConfig:
    """Everything the frontend needs to start. Durations are float seconds."""

    #: Interface the HTTP server listens on (``FAAS_HOST``).
    host: str = "127.0.0.1"
    #: HTTP port (``PORT``); 0 picks a free one.
    port: int = DEFAULT_HTTP_PORT
    #: The dbmanager's ZeroMQ endpoint (``DB_URL``).
    db_url: str = f"tcp://127.0.0.1:{DEFAULT_DB_PORT}"
    #: The jqmanager's ZeroMQ endpoint (``JQ_URL``).
    jq_url: str = f"tcp://127.0.0.1:{DEFAULT_JQ_PORT}"
    #: Authentication mode (``FAAS_AUTH``): ``keys`` or ``open``; by default ``open`` only
    #: when ``host`` is a loopback address.
    auth: str = "open"
    #: A key that may do anything (``FAAS_ADMIN_KEY``); None: no admin.
    admin_key: str | None = None
    #: Hosts callbacks may go to, ``host`` or ``host:port`` (``FAAS_CALLBACK_ALLOW``);
    #: empty: callbacks are refused.
    callback_allow: tuple[str, ...] = ()
    #: How long a user's key hash is reused before it is read again (``FAAS_KEY_CACHE_TTL``).
    key_cache_ttl: float = 5.0
    #: A function's timeout when registration does not set one (``FAAS_DEFAULT_TIMEOUT``).
    default_timeout: float = 60.0
    #: The largest timeout a function may ask for (``FAAS_MAX_TIMEOUT``).
    max_timeout: float = 900.0
    #: A function's memory limit when registration does not set one (``FAAS_DEFAULT_MEMORY_MB``).
    default_memory_mb: int = 256
    #: The largest memory limit a function may ask for (``FAAS_MAX_MEMORY_MB``).
    max_memory_mb: int = 4096
    #: The largest request body accepted, bytes (``FAAS_MAX_BODY``); larger ones get 413.
    max_body: int = 1024 * 1024
    #: The longest ``?wait=`` a request may hold (``FAAS_MAX_WAIT``).
    max_wait: float = 60.0
    #: Deadline of each call to dbmanager or jqmanager, on top of any ``wait``
    #: (``FAAS_RPC_TIMEOUT``).
    rpc_timeout: float = 5.0
    #: Deadline of each ping made by ``/readyz`` (``FAAS_READY_TIMEOUT``).
    ready_timeout: float = 1.0
    #: The workers' ``FAAS_SANDBOX`` (read here too: unconfined functions are refused in
    #: ``keys`` mode, where users are strangers to each other and to the host).
    sandbox: str = "strict"

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise ConfigError(f"FAAS_AUTH={self.auth} is not one of {', '.join(AUTH_MODES)}")
        if self.sandbox == "off" and self.auth == "keys":
            raise ConfigError(
                "FAAS_SANDBOX=off runs functions unconfined, which keys mode (FAAS_AUTH=keys,"
                " the default off loopback) does not allow: use FAAS_SANDBOX=strict, or"
                " FAAS_AUTH=open on a trusted host"
            )
        if self.admin_key is not None and len(self.admin_key) < 16:
            raise ConfigError("FAAS_ADMIN_KEY is shorter than 16 characters")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"PORT={self.port} is not a TCP port")
        for name, value in (
            ("FAAS_DEFAULT_TIMEOUT", self.default_timeout),
            ("FAAS_MAX_TIMEOUT", self.max_timeout),
            ("FAAS_DEFAULT_MEMORY_MB", self.default_memory_mb),
            ("FAAS_MAX_MEMORY_MB", self.max_memory_mb),
            ("FAAS_MAX_BODY", self.max_body),
            ("FAAS_MAX_WAIT", self.max_wait),
            ("FAAS_RPC_TIMEOUT", self.rpc_timeout),
            ("FAAS_READY_TIMEOUT", self.ready_timeout),
            ("FAAS_KEY_CACHE_TTL", self.key_cache_ttl),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name}={value} must be a positive number")
        if self.default_timeout > self.max_timeout:
            raise ConfigError("FAAS_DEFAULT_TIMEOUT is larger than FAAS_MAX_TIMEOUT")
        if self.default_memory_mb > self.max_memory_mb:
            raise ConfigError("FAAS_DEFAULT_MEMORY_MB is larger than FAAS_MAX_MEMORY_MB")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FrontendConfig:
        """Read the settings from ``env`` (default: the process environment).

        Raises:
            ConfigError: a variable is malformed or out of range; the message names it.
        """
        d = cls()
        host = env_str("FAAS_HOST", d.host, env)
        return cls(
            host=host,
            port=env_int("PORT", d.port, env),
            db_url=env_str("DB_URL", d.db_url, env),
            jq_url=env_str("JQ_URL", d.jq_url, env),
            auth=env_str("FAAS_AUTH", default_auth(host), env),
            admin_key=env_str("FAAS_ADMIN_KEY", "", env) or None,
            callback_allow=parse_allow_list(env_str("FAAS_CALLBACK_ALLOW", "", env)),
            key_cache_ttl=env_float("FAAS_KEY_CACHE_TTL", d.key_cache_ttl, env),
            default_timeout=env_float("FAAS_DEFAULT_TIMEOUT", d.default_timeout, env),
            max_timeout=env_float("FAAS_MAX_TIMEOUT", d.max_timeout, env),
            default_memory_mb=env_int("FAAS_DEFAULT_MEMORY_MB", d.default_memory_mb, env),
            max_memory_mb=env_int("FAAS_MAX_MEMORY_MB", d.max_memory_mb, env),
            max_body=env_int("FAAS_MAX_BODY", d.max_body, env),
            max_wait=env_float("FAAS_MAX_WAIT", d.max_wait, env),
            rpc_timeout=env_float("FAAS_RPC_TIMEOUT", d.rpc_timeout, env),
            ready_timeout=env_float("FAAS_READY_TIMEOUT", d.ready_timeout, env),
            sandbox=env_str("FAAS_SANDBOX", d.sandbox, env),
        )
