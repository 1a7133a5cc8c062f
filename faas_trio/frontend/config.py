"""The frontend's settings, read from the environment through the settings table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.config import ConfigError, check_fields, from_env, read, setting

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
    """Everything the frontend needs to start (the variables are in
    :mod:`faas_trio.core.settings`). Validated on construction (raises ``ConfigError``)."""

    host: str = setting("FAAS_HOST")
    #: HTTP port; 0 picks a free one.
    port: int = setting("PORT", "frontend")
    db_url: str = setting("DB_URL", "frontend")
    jq_url: str = setting("JQ_URL")
    #: ``keys`` or ``open``; from_env's default is ``open`` only on a loopback ``host``.
    auth: str = "open"
    admin_key: str | None = setting("FAAS_ADMIN_KEY")
    #: ``host`` or ``host:port`` entries (FAAS_CALLBACK_ALLOW); empty: callbacks refused.
    callback_allow: tuple[str, ...] = ()
    key_cache_ttl: float = setting("FAAS_KEY_CACHE_TTL")
    default_timeout: float = setting("FAAS_DEFAULT_TIMEOUT")
    max_timeout: float = setting("FAAS_MAX_TIMEOUT")
    default_memory_mb: int = setting("FAAS_DEFAULT_MEMORY_MB")
    max_memory_mb: int = setting("FAAS_MAX_MEMORY_MB")
    max_body: int = setting("FAAS_MAX_BODY")
    map_max_items: int = setting("FAAS_MAP_MAX_ITEMS")
    map_max_body: int = setting("FAAS_MAP_MAX_BODY")
    max_wait: float = setting("FAAS_MAX_WAIT")
    rpc_timeout: float = setting("FAAS_RPC_TIMEOUT")
    ready_timeout: float = setting("FAAS_READY_TIMEOUT")
    #: The workers' ``FAAS_SANDBOX`` (read here too: unconfined functions are refused in
    #: ``keys`` mode, where users are strangers to each other and to the host).
    sandbox: str = setting("FAAS_SANDBOX")
    max_functions: int = setting("FAAS_MAX_FUNCTIONS")
    max_source_bytes: int = setting("FAAS_MAX_SOURCE_BYTES")
    #: Who creates users in ``keys`` mode (see :mod:`.registration`).
    registration: str = setting("FAAS_REGISTRATION")
    registration_rate: float = setting("FAAS_REGISTRATION_RATE")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.auth not in AUTH_MODES:
            raise ConfigError(f"FAAS_AUTH={self.auth!r} is not one of {', '.join(AUTH_MODES)}")
        if self.sandbox == "off" and self.auth == "keys":
            raise ConfigError(
                "FAAS_SANDBOX=off runs functions unconfined, which keys mode (FAAS_AUTH=keys,"
                " the default off loopback) does not allow: use FAAS_SANDBOX=strict, or"
                " FAAS_AUTH=open on a trusted host"
            )
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
        values = read("frontend", env)
        host = values["FAAS_HOST"]
        return from_env(
            cls,
            "frontend",
            env,
            auth=values["FAAS_AUTH"] or default_auth(host),
            callback_allow=parse_allow_list(values["FAAS_CALLBACK_ALLOW"]),
        )
