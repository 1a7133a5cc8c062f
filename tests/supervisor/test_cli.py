"""The ``faas-trio`` command line: subcommands and dispatch."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import NoReturn

import pytest

from faas_trio import cli
from faas_trio.core import lifecycle


def test_help_lists_every_subcommand() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faas_trio", "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    for command in ("up", "frontend", "dbmanager", "jqmanager", "worker", "scaler"):
        assert f"    {command}" in done.stdout


def test_an_unknown_or_missing_subcommand_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in ([], ["nonsense"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
    assert "usage: faas-trio" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_each_subcommand_runs_its_components_main(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    module_name = cli.COMMANDS[command][0]
    fake = types.ModuleType(module_name)
    fake.main = lambda: ran.append(command)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module_name, fake)

    def end_process(code: int) -> NoReturn:  # the real one would end pytest's process
        ran.append(f"end_process({code})")
        raise SystemExit(code)

    monkeypatch.setattr(lifecycle, "end_process", end_process)
    with pytest.raises(SystemExit):
        cli.main([command])
    assert ran == [command, "end_process(0)"]
