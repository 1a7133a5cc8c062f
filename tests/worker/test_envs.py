"""Evicting package environments: under the size cap, never one in use or claimed, and
several evictions at once (in one worker or in two) neither fail nor remove twice.

The environments here are folders made by the test (a marker file and some files), so no pip
runs; what is checked is the bookkeeping and the file walks around them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import trio

from faas_trio.core.packages import PipSource
from faas_trio.worker import envs as envs_module
from faas_trio.worker.envs import Environments

FILE_BYTES = 1000
SLACK = 1000  # a cap this much over whole environments: their markers are a few bytes more


def make_env(root: Path, name: str, used_at: float, files: int = 5) -> None:
    folder = root / name
    (folder / "pkg").mkdir(parents=True)
    for number in range(files):
        (folder / "pkg" / f"m{number}.py").write_bytes(b"x" * FILE_BYTES)
    marker = folder / ".faas-env.json"
    marker.write_text(json.dumps({"top_level": ["pkg"]}))
    os.utime(marker, (used_at, used_at))


def environments(root: Path, max_bytes: int) -> Environments:
    return Environments(
        root, "python3", PipSource(), max_bytes=max_bytes, install_timeout=10.0
    )


def left(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


async def test_the_least_recently_used_go_first_but_not_one_in_use_or_claimed(
    tmp_path: Path,
) -> None:
    for number, name in enumerate(["a", "b", "c", "d"]):
        make_env(tmp_path, name, used_at=1000.0 + number)
    envs = environments(tmp_path, max_bytes=2 * 5 * FILE_BYTES + SLACK)
    envs.in_use = {"a"}
    envs.claim("b")
    await envs._evict()
    # a and b are the oldest but kept; c goes, then the total (a, b, d) is still over: d.
    assert left(tmp_path) == ["a", "b"]
    envs.release("b")
    envs.in_use = set()
    await envs._evict()
    assert left(tmp_path) == ["a", "b"]  # under the cap now: nothing more goes
    make_env(tmp_path, "e", used_at=2000.0)
    await envs._evict()
    assert left(tmp_path) == ["b", "e"]


async def test_an_environment_another_worker_removed_meanwhile_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number, name in enumerate(["a", "b", "c"]):
        make_env(tmp_path, name, used_at=1000.0 + number)
    size = envs_module._size

    def removed_by_another_worker(folder: Path) -> int:
        measured = size(folder)
        if folder.name == "a":
            shutil.rmtree(folder)  # after it was listed and measured, before the rename
        return measured

    monkeypatch.setattr(envs_module, "_size", removed_by_another_worker)
    await environments(tmp_path, max_bytes=1 * 5 * FILE_BYTES + SLACK)._evict()
    assert left(tmp_path) == ["c"]


async def test_concurrent_evictions_in_one_worker_and_across_two_neither_fail_nor_overshoot(
    tmp_path: Path,
) -> None:
    for number in range(24):
        make_env(tmp_path, f"e{number:02d}", used_at=1000.0 + number, files=30)
    cap = 4 * 30 * FILE_BYTES + SLACK
    first, second = environments(tmp_path, cap), environments(tmp_path, cap)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(first._evict)
                nursery.start_soon(second._evict)
    assert left(tmp_path) == ["e20", "e21", "e22", "e23"]
