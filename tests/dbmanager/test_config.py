"""DbManagerConfig.from_env: defaults, overrides, rejection of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.dbmanager import DbManagerConfig
from faas_trio.store.sqlite import sqlite_path


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = DbManagerConfig.from_env({})
    assert config.store_url == f"sqlite://{tmp_path}/.faas/faas.db"
    assert sqlite_path(config.store_url) == f"{tmp_path}/.faas/faas.db"
    assert config.bind == "tcp://127.0.0.1:27444"
    assert config.retention == 7 * 24 * 3600
    assert config.sweep_interval == 3600
    assert config.sqlite_sync == "full"


def test_faas_home_holds_the_default_database(tmp_path: Path) -> None:
    config = DbManagerConfig.from_env({"FAAS_HOME": str(tmp_path / "home")})
    assert sqlite_path(config.store_url) == f"{tmp_path}/home/faas.db"


def test_overrides() -> None:
    config = DbManagerConfig.from_env(
        {
            "DB_URL": "mongodb://db:27017",
            "FAAS_HOST": "0.0.0.0",
            "PORT": "0",
            "FAAS_JOB_RETENTION": "60",
            "FAAS_SWEEP_INTERVAL": "2.5",
            "FAAS_SQLITE_SYNC": "Normal",
        }
    )
    assert config == DbManagerConfig(
        store_url="mongodb://db:27017",
        bind="tcp://0.0.0.0:*",
        retention=60.0,
        sweep_interval=2.5,
        sqlite_sync="normal",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("FAAS_JOB_RETENTION", "a week"),
        ("FAAS_JOB_RETENTION", "0"),
        ("FAAS_SWEEP_INTERVAL", "-1"),
        ("FAAS_SQLITE_SYNC", "off"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        DbManagerConfig.from_env({name: value})
