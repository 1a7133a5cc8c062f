"""open_store picks a backend by URL and closes it on exit."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from faas_trio.store import open_store
from faas_trio.store.sqlite import SqliteStore


async def test_sqlite_url_opens_a_sqlite_store_and_closes_it(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/faas.db") as store:
        assert isinstance(store, SqliteStore)
        assert await store.get_user("ann") is None
    with pytest.raises(trio.ClosedResourceError):
        await store.get_user("ann")


async def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:data/faas.db") as store:
        assert await store.list_functions("ann") == []
    assert (tmp_path / "data" / "faas.db").exists()


async def test_the_store_is_closed_when_the_block_is_cancelled(tmp_path: Path) -> None:
    with trio.CancelScope() as scope:
        async with open_store(f"sqlite:///{tmp_path}/faas.db") as store:
            scope.cancel()
            await trio.sleep_forever()
    with pytest.raises(trio.ClosedResourceError):
        await store.get_user("ann")


@pytest.mark.parametrize("url", ["postgres://x/y", "faas.db", "", "mysql:thing"])
async def test_unknown_scheme_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported store URL"):
        async with open_store(url):
            pass  # pragma: no cover


async def test_mongodb_url_goes_to_the_mongo_backend() -> None:
    with pytest.raises(ValueError, match="MongoDB"):
        async with open_store("mongodb://"):
            pass  # pragma: no cover
