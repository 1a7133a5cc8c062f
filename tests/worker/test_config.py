"""WorkerConfig.from_env: defaults, overrides, rejection of bad values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.worker import WorkerConfig


def test_defaults() -> None:
    config = WorkerConfig.from_env({})
    assert config.jq_url == "tcp://127.0.0.1:27445"
    assert (config.concurrency, config.drain_timeout) == (4, 4.0)
    assert (config.warm_ttl, config.warm_max, config.log_cap) == (60.0, 16, 1 << 20)
    assert config.scratch_dir == Path(".faas").resolve() / "scratch"
    node = shutil.which("node")
    assert config.node == (None if node is None else str(Path(node).resolve()))
    assert Path(config.sandbox_python).is_absolute()


def test_overrides() -> None:
    config = WorkerConfig.from_env(
        {
            "JQ_URL": "tcp://jq:1",
            "FAAS_WORKER_CONCURRENCY": "8",
            "FAAS_DRAIN_TIMEOUT": "1.5",
            "FAAS_WARM_TTL": "5",
            "FAAS_WARM_MAX": "2",
            "FAAS_LOG_CAP": "100",
            "FAAS_SANDBOX_PYTHON": "/opt/py",
            "FAAS_HOME": "/srv/faas",
            "FAAS_DEFAULT_MEMORY_MB": "64",
            "FAAS_SANDBOX_UID_BASE": "70000",
            "FAAS_SANDBOX_UID_COUNT": "10",
            "FAAS_SANDBOX_NPROC": "16",
            "FAAS_SANDBOX": "off",
            "FAAS_SANDBOX_SCRATCH_MB": "32",
        }
    )
    assert (config.jq_url, config.concurrency, config.drain_timeout) == ("tcp://jq:1", 8, 1.5)
    assert (config.warm_ttl, config.warm_max, config.log_cap) == (5.0, 2, 100)
    assert config.sandbox_python == "/opt/py"
    assert config.scratch_dir == Path("/srv/faas/scratch")
    assert config.default_memory_mb == 64
    assert config.spawn_settings.scratch_root == Path("/srv/faas/scratch")
    settings = config.spawn_settings
    assert (settings.uid_base, settings.uid_count, settings.nproc) == (70000, 10, 16)
    assert (settings.mode, settings.scratch_mb) == ("off", 32)


@pytest.mark.parametrize(
    "env",
    [
        {"FAAS_WORKER_CONCURRENCY": "0"},
        {"FAAS_WORKER_CONCURRENCY": "four"},
        {"FAAS_DRAIN_TIMEOUT": "-1"},
        {"FAAS_LOG_CAP": "0"},
        {"FAAS_SANDBOX_NPROC": "0"},
        {"FAAS_SANDBOX": "loose"},
        {"FAAS_SANDBOX_SCRATCH_MB": "0"},
        {"FAAS_SANDBOX_UID_COUNT": "19"},  # fewer than 4 slots + 16 warm children
    ],
)
def test_bad_values_are_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        WorkerConfig.from_env(env)


def test_the_default_sandbox_uids_are_in_no_range_systemd_assigns() -> None:
    config = WorkerConfig.from_env({})
    first, last = config.sandbox_uid_base, config.sandbox_uid_base + config.sandbox_uid_count - 1
    # Unused by systemd (UIDS-GIDS: 1879048192-2147352575), and representable as a signed int.
    assert 1879048192 <= first and last <= 2147352575 and last < 2**31


@pytest.mark.parametrize(
    ("base", "count"), [("61000", "1000"), ("65000", "100"), ("65534", "1"), ("4294967000", "500")]
)
def test_sandbox_uids_overlapping_reserved_ranges_are_refused(base: str, count: str) -> None:
    with pytest.raises(ConfigError, match="FAAS_SANDBOX_UID_BASE=.*overlap"):
        WorkerConfig.from_env({"FAAS_SANDBOX_UID_BASE": base, "FAAS_SANDBOX_UID_COUNT": count})
