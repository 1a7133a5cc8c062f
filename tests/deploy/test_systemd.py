"""The systemd unit in ``deploy/systemd`` parses (``systemd-analyze verify``) and says what
the README promises: restarted always, the supervisor stopped by SIGTERM alone, state in a
FAAS_HOME of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "faas-trio.service"


def _settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_keeps_the_supervisor_running() -> None:
    settings = _settings()
    assert settings["Restart"] == ["always"]
    assert settings["KillMode"] == ["mixed"]
    assert settings["ExecStart"][0].endswith("faas-trio up")
    assert "FAAS_HOME=/var/lib/faas-trio" in settings["Environment"]
    assert settings["StartLimitIntervalSec"] == ["0"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        message = "systemd-analyze is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # verify checks that ExecStart exists: point it at this checkout's faas-trio.
    here = Path(sys.executable).parent / "faas-trio"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/faas-trio/.venv/bin/faas-trio", str(here)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
