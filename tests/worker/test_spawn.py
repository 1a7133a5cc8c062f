"""How a runner child is started: its argv and environment, and failures."""

from __future__ import annotations

from faas_trio.core.messages import Runtime
from faas_trio.worker.sandbox.spawn import SpawnFailed, SpawnSettings, build_command

from .conftest import needs_node


def test_build_command_python_flags(settings: SpawnSettings) -> None:
    command = build_command(Runtime.PYTHON, 256, settings, settings.scratch_root)
    assert command.argv[:4] == [settings.python, "-I", "-S", "-B"]
    assert command.argv[4].endswith("python_runner.py")
    assert "--memory-mb" in command.argv and "256" in command.argv
    assert set(command.env) == {"PATH", "LANG", "HOME", "TMPDIR"}


@needs_node
def test_build_command_node_heap_limit(settings: SpawnSettings) -> None:
    command = build_command(Runtime.NODE, 256, settings, settings.scratch_root)
    assert command.argv[1] == "--max-old-space-size=256"
    assert command.argv[2].endswith("node_runner.js")


def test_build_command_without_node_fails(settings: SpawnSettings) -> None:
    no_node = SpawnSettings(settings.python, None, settings.scratch_root, settings.log_cap)
    try:
        build_command(Runtime.NODE, 128, no_node, settings.scratch_root)
    except SpawnFailed as exc:
        assert "node" in str(exc)
    else:
        raise AssertionError("expected SpawnFailed")
