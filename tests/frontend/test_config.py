"""FrontendConfig.from_env."""

from __future__ import annotations

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.frontend import FrontendConfig


def test_defaults() -> None:
    config = FrontendConfig.from_env({})
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert (config.db_url, config.jq_url) == ("tcp://127.0.0.1:27444", "tcp://127.0.0.1:27445")
    assert config.auth == "open"
    assert (config.default_timeout, config.max_timeout, config.default_memory_mb) == (60, 900, 256)
    assert (config.max_body, config.max_wait) == (1024 * 1024, 60)


def test_from_env() -> None:
    config = FrontendConfig.from_env(
        {
            "FAAS_HOST": "0.0.0.0",
            "PORT": "80",
            "DB_URL": "tcp://0.dbclient:80",
            "JQ_URL": "tcp://0.jqclient:80",
            "FAAS_DEFAULT_TIMEOUT": "5",
            "FAAS_MAX_TIMEOUT": "10",
            "FAAS_DEFAULT_MEMORY_MB": "128",
            "FAAS_MAX_BODY": "100",
            "FAAS_MAX_WAIT": "2.5",
        }
    )
    assert (config.host, config.port, config.db_url, config.jq_url) == (
        "0.0.0.0",
        80,
        "tcp://0.dbclient:80",
        "tcp://0.jqclient:80",
    )
    assert (config.default_timeout, config.max_timeout, config.default_memory_mb) == (5, 10, 128)
    assert (config.max_body, config.max_wait) == (100, 2.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAAS_AUTH": "passwords"}, "FAAS_AUTH='passwords' is not one of keys, open"),
        ({"FAAS_ADMIN_KEY": "short"}, r"FAAS_ADMIN_KEY=\(hidden\) is not at least 16 char"),
        ({"FAAS_CALLBACK_ALLOW": "http://example.com"}, "FAAS_CALLBACK_ALLOW entry"),
        ({"FAAS_CALLBACK_ALLOW": "example.com:http"}, "FAAS_CALLBACK_ALLOW entry"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"FAAS_MAX_BODY": "0"}, "FAAS_MAX_BODY"),
        ({"FAAS_MAX_WAIT": "-1"}, "FAAS_MAX_WAIT"),
        ({"FAAS_DEFAULT_TIMEOUT": "1000"}, "FAAS_DEFAULT_TIMEOUT is larger"),
        ({"FAAS_SANDBOX": "off", "FAAS_AUTH": "keys"}, "FAAS_SANDBOX=off runs functions"),
        ({"FAAS_SANDBOX": "off", "FAAS_HOST": "0.0.0.0"}, "keys mode"),
    ],
)
def test_rejects(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FrontendConfig.from_env(env)


@pytest.mark.parametrize(
    ("host", "auth"),
    [("127.0.0.1", "open"), ("localhost", "open"), ("::1", "open"), ("0.0.0.0", "keys"),
     ("10.0.0.5", "keys"), ("::", "keys")],
)  # fmt: skip
def test_auth_defaults_to_keys_unless_loopback_only(host: str, auth: str) -> None:
    assert FrontendConfig.from_env({"FAAS_HOST": host}).auth == auth
    assert FrontendConfig.from_env({"FAAS_HOST": host, "FAAS_AUTH": "open"}).auth == "open"


def test_security_settings() -> None:
    config = FrontendConfig.from_env(
        {
            "FAAS_AUTH": "keys",
            "FAAS_ADMIN_KEY": "admin-key-0123456789",
            "FAAS_CALLBACK_ALLOW": " Hooks.Example.com , 127.0.0.1:9000,[::1]:80,",
            "FAAS_KEY_CACHE_TTL": "2",
        }
    )
    assert (config.auth, config.admin_key) == ("keys", "admin-key-0123456789")
    assert config.callback_allow == ("hooks.example.com", "127.0.0.1:9000", "[::1]:80")
    assert config.key_cache_ttl == 2
    defaults = FrontendConfig.from_env({})
    assert (defaults.admin_key, defaults.callback_allow) == (None, ())
