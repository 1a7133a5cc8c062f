"""JqManagerConfig.from_env."""

from __future__ import annotations

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.jqmanager import JqManagerConfig


def test_defaults_match_the_old_system() -> None:
    config = JqManagerConfig.from_env({})
    assert config.bind == "tcp://127.0.0.1:27445"
    assert config.db_url == "tcp://127.0.0.1:27444"
    assert (config.max_queue, config.user_max_active) == (100_000, 100)
    assert (config.lease_timeout, config.max_attempts) == (3.0, 3)
    assert config.user_rate == 120


def test_environment_overrides() -> None:
    config = JqManagerConfig.from_env({
        "FAAS_HOST": "0.0.0.0", "PORT": "0", "DB_URL": "tcp://db:1",
        "FAAS_MAX_QUEUE": "5", "FAAS_USER_MAX_ACTIVE": "2",
        "FAAS_LEASE_TIMEOUT": "1.5", "FAAS_MAX_ATTEMPTS": "4", "FAAS_USER_RATE": "30",
    })
    assert config.bind == "tcp://0.0.0.0:*"
    assert config.db_url == "tcp://db:1"
    assert (config.max_queue, config.user_max_active) == (5, 2)
    assert (config.lease_timeout, config.max_attempts) == (1.5, 4)
    assert config.user_rate == 30


@pytest.mark.parametrize(
    "env",
    [
        {"FAAS_MAX_QUEUE": "lots"}, {"FAAS_LEASE_TIMEOUT": "0"}, {"FAAS_MAX_ATTEMPTS": "-1"},
        {"FAAS_USER_RATE": "0"}, {"FAAS_USER_RATE": "inf"},
    ],
)  # fmt: skip
def test_malformed_settings_are_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        JqManagerConfig.from_env(env)
