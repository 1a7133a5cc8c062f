"""JqManagerConfig.from_env."""

from __future__ import annotations

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.jqmanager import JqManagerConfig
from faas_trio.jqmanager.config import KEYS_MODE_USER_RATE


def test_defaults_match_the_old_system_and_admit_one_largest_map() -> None:
    config = JqManagerConfig.from_env({})
    assert config.bind == "tcp://127.0.0.1:27445"
    assert config.db_url == "tcp://127.0.0.1:27444"
    # A map of FAAS_MAP_MAX_ITEMS (100,000) items fits one user's share and the queue.
    assert (config.max_queue, config.user_max_active) == (1_000_000, 100_000)
    assert (config.lease_timeout, config.max_attempts) == (3.0, 3)
    assert config.user_rate == 0  # open mode: no rate limit, as the old API
    assert config.max_batch == 16


def test_keys_mode_has_a_rate_limit_by_default() -> None:
    assert JqManagerConfig.from_env({"FAAS_AUTH": "keys"}).user_rate == KEYS_MODE_USER_RATE
    assert JqManagerConfig.from_env({"FAAS_AUTH": "keys", "FAAS_USER_RATE": "0"}).user_rate == 0


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
        {"FAAS_USER_RATE": "-1"}, {"FAAS_USER_RATE": "inf"}, {"FAAS_MAX_BATCH": "0"},
        {"FAAS_MAX_BATCH": "5000"},
    ],
)  # fmt: skip
def test_malformed_settings_are_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        JqManagerConfig.from_env(env)
    assert any(name in str(refused.value) for name in env)  # the message names the variable
