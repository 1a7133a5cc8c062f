"""How a runner child is requested from the zygote: its argv, environment, confinement, and
failures."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from faas_trio.core.records import Runtime
from faas_trio.worker.sandbox.cgroups import SandboxCgroup
from faas_trio.worker.sandbox.protocol import ConfineOptions
from faas_trio.worker.sandbox.spawn import SpawnFailed, SpawnSettings, build_request

from .conftest import needs_node


def test_python_request_carries_limits_and_a_minimal_environment(settings: SpawnSettings) -> None:
    request = build_request(Runtime.PYTHON, 256, settings, settings.scratch_root)
    assert request.runtime == "python"
    assert request.argv == ("--memory-mb", "256", "--log-cap", str(settings.log_cap))
    assert set(request.env) == {"PATH", "LANG", "HOME", "TMPDIR"}
    assert request.env["HOME"] == request.home == str(settings.scratch_root)
    assert request.confine is None


def test_confined_request_names_the_uid_and_process_limit(settings: SpawnSettings) -> None:
    request = build_request(Runtime.PYTHON, 256, settings, settings.scratch_root, uid=61234)
    assert request.confine == ConfineOptions(
        uid=61234, nproc=settings.nproc, scratch_mb=settings.scratch_mb
    )


def test_a_cgroup_replaces_the_per_uid_process_limit(settings: SpawnSettings) -> None:
    cgroup = SandboxCgroup(1, (Path("/cg/memory/sbx-1"), Path("/cg/pids/sbx-1")))
    request = build_request(Runtime.PYTHON, 256, settings, settings.scratch_root, 61234, cgroup)
    assert request.confine is not None and request.confine.nproc is None
    assert request.confine.cgroup_procs == (
        "/cg/memory/sbx-1/cgroup.procs",
        "/cg/pids/sbx-1/cgroup.procs",
    )


def test_rootless_request_is_confined_in_a_user_namespace(settings: SpawnSettings) -> None:
    rootless = dataclasses.replace(settings, mode="rootless")
    request = build_request(Runtime.PYTHON, 256, rootless, settings.scratch_root)
    assert request.confine is not None and request.confine.userns is True
    assert request.confine.uid == os.getuid()
    off = dataclasses.replace(settings, mode="off")
    assert build_request(Runtime.PYTHON, 256, off, settings.scratch_root).confine is None


@needs_node
def test_node_request_heap_limit_and_readable_paths(settings: SpawnSettings) -> None:
    request = build_request(Runtime.NODE, 256, settings, settings.scratch_root)
    assert request.argv[0] == settings.node
    assert "--max-old-space-size=256" in request.argv
    assert "--experimental-vm-modules" in request.argv
    assert request.argv[-2].endswith("node_runner.js")
    confined = build_request(Runtime.NODE, 256, settings, settings.scratch_root, uid=61234)
    script = confined.argv[-2]
    assert confined.confine is not None
    assert confined.confine.read == (script, settings.node)
    assert (confined.confine.address_space_mb or 0) > 256


def test_request_without_node_fails(settings: SpawnSettings) -> None:
    no_node = SpawnSettings(settings.python, None, settings.scratch_root, settings.log_cap)
    try:
        build_request(Runtime.NODE, 128, no_node, settings.scratch_root)
    except SpawnFailed as exc:
        assert "node" in str(exc)
    else:
        raise AssertionError("expected SpawnFailed")
