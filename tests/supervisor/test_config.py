"""The supervisor's settings from the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.supervisor import SupervisorConfig


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    config = SupervisorConfig.from_env({"OTHER": "x"})
    assert config.home == tmp_path / ".faas"
    assert (config.http_port, config.db_port, config.jq_port) == (8080, 27444, 27445)
    assert config.store_url == f"sqlite:///{tmp_path}/.faas/faas.db"
    cpus = len(os.sched_getaffinity(0))
    assert (config.workers, config.workers_min, config.workers_max) == (1, 1, 2 * cpus)
    assert config.base_env == {"OTHER": "x"}
    assert config.command("worker") == (sys.executable, "-m", "faas_trio", "worker")


def test_from_env_reads_every_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "FAAS_HOME": "rel/home",
        "PORT": "9000",
        "FAAS_DB_PORT": "9001",
        "FAAS_JQ_PORT": "9002",
        "DB_URL": "mongodb://127.0.0.1:27017",
        "FAAS_WORKERS": "3",
        "FAAS_WORKERS_MIN": "2",
        "FAAS_WORKERS_MAX": "5",
        "FAAS_DRAIN_TIMEOUT": "7.5",
        "FAAS_SHUTDOWN_GRACE": "2",
    }
    config = SupervisorConfig.from_env(env)
    assert config.home == tmp_path / "rel" / "home"
    assert (config.http_port, config.db_port, config.jq_port) == (9000, 9001, 9002)
    assert config.store_url == "mongodb://127.0.0.1:27017"
    assert (config.workers, config.workers_min, config.workers_max) == (3, 2, 5)
    assert (config.drain_timeout, config.shutdown_grace) == (7.5, 2.0)


def test_worker_counts_are_clamped() -> None:
    config = SupervisorConfig(home=Path(os.sep), workers=9, workers_min=2, workers_max=4)
    assert config.initial_workers == 4
    assert [config.clamp_workers(n) for n in (0, 3, 10)] == [2, 3, 4]


@pytest.mark.parametrize(
    "env",
    [
        {"PORT": "0"},
        {"FAAS_DB_PORT": "70000"},
        {"DB_URL": "tcp://127.0.0.1:27444"},
        {"FAAS_WORKERS_MIN": "3", "FAAS_WORKERS_MAX": "2"},
        {"FAAS_WORKERS": "-1"},
        {"FAAS_DRAIN_TIMEOUT": "soon"},
    ],
)
def test_bad_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        SupervisorConfig.from_env(env)
