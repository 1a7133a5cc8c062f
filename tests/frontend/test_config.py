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
        ({"FAAS_AUTH": "keys"}, "FAAS_AUTH=keys is not available yet"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"FAAS_MAX_BODY": "0"}, "FAAS_MAX_BODY"),
        ({"FAAS_MAX_WAIT": "-1"}, "FAAS_MAX_WAIT"),
        ({"FAAS_DEFAULT_TIMEOUT": "1000"}, "FAAS_DEFAULT_TIMEOUT is larger"),
    ],
)
def test_rejects(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FrontendConfig.from_env(env)
