"""What the SQLite backend adds to the contract: URLs, files, durability, closing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from faas_trio.core.errors import PeerUnavailable
from faas_trio.core.messages import PutUser
from faas_trio.store import sqlite as sqlite_module
from faas_trio.store import sqlite_connect
from faas_trio.store.sqlite import SqliteStore, sqlite_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///abs/path.db", "/abs/path.db"),
        ("sqlite:relative.db", "relative.db"),
        ("sqlite:dir/relative.db", "dir/relative.db"),
        ("sqlite:/abs/path.db", "/abs/path.db"),
    ],
)
def test_sqlite_path(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize(
    "url", ["sqlite:", "sqlite://", "sqlite:///", "sqlite://host/x.db", "x.db"]
)
def test_sqlite_path_rejects(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite"):
        sqlite_path(url)


async def test_open_creates_the_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "faas.db"
    store = await SqliteStore.open(f"sqlite://{path}")
    await store.apply([PutUser(name="ann")])
    await store.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(("sync", "pragma"), [("full", 2), ("normal", 1)])
async def test_commits_are_synced_as_asked(tmp_path: Path, sync: str, pragma: int) -> None:
    store = await SqliteStore.open(f"sqlite://{tmp_path}/faas.db", sync=sync)
    try:
        for conn in (store._conn, store._writer):
            assert conn is not None
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == pragma
    finally:
        await store.aclose()


async def test_the_default_survives_a_power_loss(tmp_path: Path) -> None:
    store = await SqliteStore.open(f"sqlite://{tmp_path}/faas.db")
    try:
        assert store._writer is not None
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        await store.aclose()


async def test_an_unknown_sync_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FAAS_SQLITE_SYNC='off': use full"):
        await SqliteStore.open(f"sqlite://{tmp_path}/faas.db", sync="off")


async def test_committed_writes_survive_reopening(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/faas.db"
    store = await SqliteStore.open(url)
    await store.apply([PutUser(name="ann", key_hash="h")])
    await store.aclose()
    store = await SqliteStore.open(url)
    try:
        user = await store.get_user("ann")
        assert user is not None and user.key_hash == "h"
    finally:
        await store.aclose()


async def test_an_unusable_file_is_peer_unavailable(tmp_path: Path) -> None:
    (tmp_path / "faas.db").mkdir()
    with pytest.raises(PeerUnavailable) as info:
        await SqliteStore.open(f"sqlite://{tmp_path}/faas.db")
    assert isinstance(info.value.__cause__, sqlite3.Error)


async def test_a_locked_database_is_peer_unavailable_and_nothing_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_connect, "BUSY_TIMEOUT", 0.05)
    store = await SqliteStore.open(f"sqlite://{tmp_path}/faas.db")
    blocker = sqlite3.connect(tmp_path / "faas.db", isolation_level=None, timeout=0)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with trio.fail_after(30):
            with pytest.raises(PeerUnavailable) as info:
                await store.apply([PutUser(name="ann"), PutUser(name="bob")])
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        blocker.execute("ROLLBACK")
        assert await store.get_user("ann") is None
        await store.apply([PutUser(name="ann")])
        assert await store.get_user("ann") is not None
    finally:
        blocker.close()
        await store.aclose()


async def test_a_closed_store_raises_closed_resource_error(tmp_path: Path) -> None:
    store = await SqliteStore.open(f"sqlite://{tmp_path}/faas.db")
    await store.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await store.get_user("ann")
    await store.aclose()


async def test_a_write_that_finds_the_database_locked_waits_off_the_event_loop(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(f"sqlite://{tmp_path}/faas.db")
    blocker = sqlite3.connect(tmp_path / "faas.db", isolation_level=None, timeout=0)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    try:
        blocker.execute("BEGIN EXCLUSIVE")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            done = trio.Event()

            async def write() -> None:
                await store.apply([PutUser(name="ann")])
                done.set()

            nursery.start_soon(write)
            await trio.sleep(0.3)
            assert not done.is_set()
            assert ticks >= 10  # the loop kept running while the write waited
            blocker.execute("ROLLBACK")
            with trio.fail_after(10):
                await done.wait()
            nursery.cancel_scope.cancel()
        assert await store.get_user("ann") is not None
    finally:
        blocker.close()
        await store.aclose()


async def _wal_bytes_after_commits(path: Path, commits: int) -> int:
    store = await SqliteStore.open(f"sqlite://{path}")
    try:
        for index in range(commits):
            await store.apply([PutUser(name=f"user{index}", key_hash="h" * 200)])
        return (path.parent / (path.name + "-wal")).stat().st_size
    finally:
        await store.aclose()


async def test_the_write_ahead_log_is_checkpointed_so_it_stays_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_CHECKPOINT_EVERY", 20)
    checkpointed = await _wal_bytes_after_commits(tmp_path / "a.db", 400)
    monkeypatch.setattr(sqlite_module, "_CHECKPOINT_EVERY", 10**9)
    never = await _wal_bytes_after_commits(tmp_path / "b.db", 400)
    assert checkpointed * 4 < never
