"""Resolving requirements (faas_trio/dbmanager/builds.py) with real pip and a wheelhouse of
the tests' own, no index."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from faas_trio.core.messages import SetBuild
from faas_trio.core.packages import PipSource
from faas_trio.core.records import Build, BuildState, Function, Runtime
from faas_trio.dbmanager import builds
from faas_trio.dbmanager.builds import Builder, BuildSettings

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def function(name: str, requirements: list[str], version: int = 1) -> Function:
    return Function(
        user="ann", name=name, source="def f(): pass", runtime=Runtime.PYTHON, timeout=5,
        memory_mb=64, version=version, requirements=requirements, build=Build(),
    )  # fmt: skip


class Recorder:
    """Stands in for the store: records every SetBuild and applies them all."""

    def __init__(self) -> None:
        self.writes: list[SetBuild] = []

    async def __call__(self, op: SetBuild) -> bool:
        self.writes.append(op)
        return True

    def final(self, name: str) -> Build:
        return [w.build for w in self.writes if w.name == name][-1]


@pytest.fixture
def settings(offline_pip: Path) -> BuildSettings:
    return BuildSettings(PYTHON, PipSource.from_env(), timeout=120.0)


async def test_a_set_resolves_to_exact_wheels_once_for_every_function(
    settings: BuildSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = 0
    real = builds.run_pip

    async def counting(*args: object, **kwargs: object) -> object:
        nonlocal runs
        runs += 1
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builds, "run_pip", counting)
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        builder = Builder(nursery, settings, recorder)
        one, two = function("one", ["faasdemo-top"]), function("two", ["faasdemo-top"])
        nursery.start_soon(builder.wait, one, 120)  # starts the build, as a restart would
        builder.start(two)
    assert runs == 1
    first, second = recorder.final("one"), recorder.final("two")
    assert first.state is BuildState.READY, first
    assert first.env is not None and second.env == first.env
    assert [line.split(" ")[0] for line in first.resolved] == [
        "faasdemo_base==1.1", "faasdemo_top==2.0",
    ]  # fmt: skip
    assert all("--hash=sha256:" in line for line in first.resolved)
    # The first to take the set's lock built it; the other took its result.
    steps = sorted([w.build.state for w in recorder.writes if w.name == n] for n in ("one", "two"))
    assert steps == [[BuildState.BUILDING, BuildState.READY], [BuildState.READY]]


async def test_a_pinned_version_makes_another_environment(settings: BuildSettings) -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        builder = Builder(nursery, settings, recorder)
        builder.start(function("latest", ["faasdemo-top"]))
        builder.start(function("pinned", ["faasdemo-top", "faasdemo-base==1.0"]))
    assert recorder.final("latest").env != recorder.final("pinned").env
    assert "faasdemo_base==1.0" in recorder.final("pinned").resolved[0]


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("faasdemo-missing", "no wheel of it"),
        ("faasdemo-sdist", "faasdemo-sdist is published only as a source distribution"),
    ],
)
async def test_a_build_fails_saying_why(
    settings: BuildSettings, requirement: str, expected: str
) -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        builder = Builder(nursery, settings, recorder)
        builder.start(function("bad", [requirement]))
    build = recorder.final("bad")
    assert build.state is BuildState.FAILED
    assert build.error is not None and expected in build.error, build.error
    assert "wheels only" in build.error and build.env is None


async def test_a_build_past_its_timeout_fails(offline_pip: Path) -> None:
    recorder = Recorder()
    quick = BuildSettings(PYTHON, PipSource.from_env(), timeout=0.05)
    async with trio.open_nursery() as nursery:
        builder = Builder(nursery, quick, recorder)
        builder.start(function("slow", ["faasdemo-top"]))
    build = recorder.final("slow")
    assert build.state is BuildState.FAILED and "FAAS_BUILD_TIMEOUT" in (build.error or "")
