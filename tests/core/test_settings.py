"""The settings table: every variable validated the same way, the README generated from it,
and each component's config built from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from faas_trio.cli.settings import BEGIN, END
from faas_trio.core.config import ConfigError, Setting, parse, read
from faas_trio.core.settings import COMPONENTS, SETTINGS, markdown_table
from faas_trio.dbmanager.config import DbManagerConfig
from faas_trio.frontend.config import FrontendConfig
from faas_trio.jqmanager.config import JqManagerConfig
from faas_trio.scaler.config import ScalerConfig
from faas_trio.supervisor.config import SupervisorConfig
from faas_trio.worker.config import WorkerConfig

README = Path(__file__).resolve().parents[2] / "README.md"

FROM_ENV = {
    "frontend": FrontendConfig.from_env,
    "dbmanager": DbManagerConfig.from_env,
    "jqmanager": JqManagerConfig.from_env,
    "worker": WorkerConfig.from_env,
    "scaler": ScalerConfig.from_env,
    "up": SupervisorConfig.from_env,
}


def malformed(row: Setting) -> str | None:
    """A value ``row`` must refuse (None: any text is valid)."""
    if row.type in (int, float):
        return "many"
    if row.choices:
        return "none-of-these"
    if row.form == "endpoint":
        return "tcp:/127.0.0.1:27445"  # a typo: one slash
    if row.form == "store":
        return "postgres://db"
    if row.low is not None:  # a minimum length
        return "x"
    return None


def test_readme_table_is_generated_from_the_settings_table() -> None:
    text = README.read_text(encoding="utf-8")
    _, _, rest = text.partition(BEGIN + "\n")
    shown, _, _ = rest.partition(END)
    assert shown == markdown_table(), "README is stale: run `make settings-doc`"


def test_every_setting_is_read_by_a_known_component_and_documented() -> None:
    for row in SETTINGS:
        assert row.readers and set(row.readers) <= set(COMPONENTS), row.name
        assert row.help, row.name
    names = [(row.name, reader) for row in SETTINGS for reader in row.readers]
    assert len(names) == len(set(names)), "a variable has two rows for one component"


@pytest.mark.parametrize(
    "row", [row for row in SETTINGS if malformed(row) is not None], ids=lambda row: row.name
)
def test_every_malformed_value_is_refused_by_name(row: Setting) -> None:
    raw = malformed(row)
    assert raw is not None
    with pytest.raises(ConfigError, match=f"^{row.name}=.* is not {re.escape(row.expected())}"):
        parse(row, raw)
    for component in row.readers:
        with pytest.raises(ConfigError, match=f"^{row.name}="):
            FROM_ENV[component]({row.name: raw})


@pytest.mark.parametrize("row", SETTINGS, ids=lambda row: f"{row.name}-{row.readers[0]}")
def test_every_default_is_valid(row: Setting) -> None:
    for component in row.readers:
        assert read(component, {})[row.name] == row.default


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("FAAS_MAX_QUEUE", "0"),
        ("FAAS_LEASE_TIMEOUT", "0"),
        ("FAAS_LEASE_TIMEOUT", "nan"),
        ("FAAS_DRAIN_TIMEOUT", "-1"),
        ("PORT", "65536"),
        ("FAAS_DB_PORT", "0"),
        ("JQ_URL", "tcp://127.0.0.1:99999"),
        ("JQ_URL", "127.0.0.1:27445"),
    ],
)
def test_out_of_range_values_are_refused(name: str, raw: str) -> None:
    row = next(row for row in SETTINGS if row.name == name)
    with pytest.raises(ConfigError, match=f"^{name}=.{raw}. is not {re.escape(row.expected())}$"):
        parse(row, raw)


def test_a_config_built_in_code_is_checked_like_one_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="^FAAS_MAX_QUEUE=0 is not a whole number >= 1"):
        JqManagerConfig(max_queue=0)
    with pytest.raises(ConfigError, match="^JQ_URL='nowhere' is not tcp://host:port"):
        WorkerConfig(jq_url="nowhere")


def test_one_default_memory_for_frontend_and_worker() -> None:
    assert FrontendConfig().default_memory_mb == WorkerConfig().default_memory_mb == 256


def test_config_command_prints_settings_and_exits_2_on_a_bad_one() -> None:
    command = [sys.executable, "-m", "faas_trio", "config", "jqmanager"]
    good = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={"FAAS_MAX_QUEUE": "7"})
    assert good.returncode == 0, good.stderr
    assert "FAAS_MAX_QUEUE=7  # set" in good.stdout
    assert "FAAS_LEASE_TIMEOUT=3.0  # default" in good.stdout
    bad = subprocess.run(command, capture_output=True, text=True, timeout=60,
                         env={"DB_URL": "tcp://127.0.0.1"})
    assert bad.returncode == 2
    assert "DB_URL='tcp://127.0.0.1' is not tcp://host:port" in bad.stderr


def test_a_component_exits_2_naming_a_malformed_endpoint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "faas_trio", "worker"], capture_output=True, text=True,
        timeout=60, env={"JQ_URL": "tcp//127.0.0.1:27445", "FAAS_HOME": "/nonexistent"},
    )
    assert result.returncode == 2
    assert "JQ_URL='tcp//127.0.0.1:27445' is not tcp://host:port" in result.stderr
