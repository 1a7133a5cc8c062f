"""Scratch cleanup: whatever a function leaves in its scratch directory is removed without
recursion, without following links, within a budget, and never ends the worker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faas_trio.core.records import JobState
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.scratch import MAX_OPEN_DIRS, remove_tree
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .conftest import MakeDispatch

#: Leaves, in its scratch directory (its cwd): a chain of ``depth`` directories (deeper than
#: PATH_MAX allows to name), links to ``outside`` at every level, a directory without
#: permissions, a fifo and a hard link.
LITTER = """import os
def f(depth, outside):
    os.symlink(outside, 'link-out')
    os.symlink('/', 'link-root')
    os.mkfifo('fifo')
    os.mkdir('closed')
    open('closed/file', 'w').close()
    os.chmod('closed', 0)
    fd = os.open('.', os.O_RDONLY)
    for level in range(depth):
        os.mkdir('d', dir_fd=fd)
        os.symlink(outside, 'l', dir_fd=fd)
        child = os.open('d', os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    with open(os.open('deepest', os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), 'w') as out:
        out.write('bottom')
    return depth
"""


def make_tree(top: Path, depth: int, outside: Path) -> None:
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            os.symlink(outside, "l", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.link(outside / "precious", "hard", dst_dir_fd=fd)
    finally:
        os.close(fd)
    os.symlink(outside, top / "dir-link")
    (top / "closed").mkdir()
    (top / "closed" / "x").write_text("x")
    (top / "closed").chmod(0)


def outside_tree(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    return outside


def test_a_tree_deeper_than_path_max_with_links_is_removed(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    top = tmp_path / "scratch"
    make_tree(top, 2100, outside)  # "d/" * 2100 is over PATH_MAX
    assert remove_tree(top)
    assert not top.exists()
    assert (outside / "precious").read_text() == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]


def test_the_budget_bounds_one_call_and_a_later_call_finishes(tmp_path: Path) -> None:
    top = tmp_path / "wide"
    top.mkdir()
    for index in range(300):
        (top / f"f{index}").write_text("x")
    assert not remove_tree(top, budget=100)
    assert top.exists() and len(list(top.iterdir())) < 300
    assert remove_tree(top)
    assert not top.exists()


def test_links_and_files_given_as_the_path_are_unlinked_not_followed(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(outside)
    assert remove_tree(link) and not link.is_symlink() and (outside / "precious").exists()
    assert remove_tree(tmp_path / "never-there")


def test_deep_directories_are_moved_up_not_held_open(tmp_path: Path) -> None:
    top = tmp_path / "deep"
    make_tree(top, MAX_OPEN_DIRS * 3, outside_tree(tmp_path))
    before = len(os.listdir("/proc/self/fd"))
    assert remove_tree(top)
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.slow
async def test_what_a_function_leaves_is_removed_and_the_worker_goes_on(
    pool: WarmPool, make_dispatch: MakeDispatch, settings: SpawnSettings, tmp_path: Path
) -> None:
    outside = outside_tree(tmp_path)
    outside.chmod(0o755)
    outcome = await run_job(
        pool,
        make_dispatch(LITTER, json.dumps([5000, str(outside / "precious")]), timeout=60.0),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert (outcome.state, outcome.result) == (JobState.SUCCEEDED, "5000"), outcome.logs
    # The sandbox ends: its scratch directory goes to the trash, which the pool empties.
    await pool.aclose()
    assert list(settings.scratch_root.iterdir()) == []
    assert (outside / "precious").read_text() == "keep me"
