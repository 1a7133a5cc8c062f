"""The Store contract for functions with packages, env and secrets, on every backend."""

from __future__ import annotations

import sqlite3

import msgspec
from msgspec.structs import replace

from faas_trio.core.errors import NotFound
from faas_trio.core.messages import (
    DeleteSecret,
    DeleteUser,
    FunctionReply,
    PutFunction,
    PutSecret,
    PutUser,
    SetBuild,
)
from faas_trio.core.records import Build, BuildState
from faas_trio.store import Store
from faas_trio.store.sqlite import SqliteStore

from .test_contract import changed, created, function, job, ok, write


def packaged(user: str = "ann", name: str = "yam") -> PutFunction:
    return PutFunction(
        function=replace(
            function(user, name, "import yaml\ndef yam(): return 1"),
            requirements=["pyyaml==6.0.2"],
            preload=["yaml"],
            env={"MODE": "test"},
            secrets=["TOKEN", "OTHER"],
            build=Build(),
        )
    )


async def test_a_function_keeps_requirements_env_secret_names_and_build(store: Store) -> None:
    await ok(store, PutUser(name="ann"))
    reply = await ok(store, packaged())
    assert isinstance(reply, FunctionReply)
    got = await store.get_function("ann", "yam")
    assert got == reply.function
    assert got.requirements == ["pyyaml==6.0.2"] and got.preload == ["yaml"]
    assert got.env == {"MODE": "test"} and got.secrets == ["TOKEN", "OTHER"]
    assert got.build == Build(state=BuildState.PENDING) and got.sealed == {}


async def test_set_build_applies_to_its_version_until_final(store: Store) -> None:
    await ok(store, PutUser(name="ann"))
    await ok(store, packaged())
    building = Build(state=BuildState.BUILDING)
    ready = Build(state=BuildState.READY, env="e1", resolved=["a==1 --hash=sha256:00"])
    assert not await changed(store, SetBuild("ann", "yam", 2, building))  # another version
    assert await changed(store, SetBuild("ann", "yam", 1, building))
    assert await changed(store, SetBuild("ann", "yam", 1, ready))
    failed = Build(state=BuildState.FAILED, error="late")
    assert not await changed(store, SetBuild("ann", "yam", 1, failed))  # final stays final
    got = await store.get_function("ann", "yam")
    assert got is not None and got.build == ready
    await ok(store, packaged())  # version 2 starts pending again
    got = await store.get_function("ann", "yam")
    assert got is not None and got.version == 2 and got.build == Build()
    assert not await changed(store, SetBuild("ann", "nope", 1, ready))


async def test_a_function_without_requirements_takes_no_build(store: Store) -> None:
    await ok(store, PutUser(name="ann"))
    await ok(store, PutFunction(function=function()))
    assert not await changed(store, SetBuild("ann", "add", 1, Build(state=BuildState.READY)))


async def test_secrets_are_listed_by_name_and_sealed_only_into_jobs(store: Store) -> None:
    await ok(store, PutUser(name="ann"))
    await ok(store, PutUser(name="bob"))
    await ok(store, packaged())
    await ok(store, PutSecret("ann", "TOKEN", "sealed-1"))
    await ok(store, PutSecret("ann", "TOKEN", "sealed-2"))  # replaced
    await ok(store, PutSecret("ann", "UNUSED", "sealed-3"))
    await ok(store, PutSecret("bob", "OTHER", "bobs"))  # another user's: never attached
    assert await store.list_secrets("ann") == ["TOKEN", "UNUSED"]
    assert await store.list_secrets("bob") == ["OTHER"]
    assert await store.list_secrets("nobody") is None
    made = await created(store, job("ann", "yam"))
    assert made.function.sealed == {"TOKEN": "sealed-2"}
    again = await created(store, replace(made.job))  # the existing job: sealed too
    assert again.existing and again.function.sealed == {"TOKEN": "sealed-2"}
    _, functions = await store.unfinished_jobs()
    assert [f.sealed for f in functions] == [{"TOKEN": "sealed-2"}]
    stored = await store.get_function("ann", "yam")
    assert stored is not None and stored.sealed == {}
    assert (await store.list_functions("ann"))[0].sealed == {}


async def test_secrets_are_deleted_and_go_with_their_user(store: Store) -> None:
    await ok(store, PutUser(name="ann"))
    await ok(store, PutSecret("ann", "TOKEN", "s"))
    await ok(store, DeleteSecret("ann", "TOKEN"))
    assert await store.list_secrets("ann") == []
    assert isinstance(await write(store, DeleteSecret("ann", "TOKEN")), NotFound)
    assert isinstance(await write(store, PutSecret("nobody", "TOKEN", "s")), NotFound)
    await ok(store, PutSecret("ann", "TOKEN", "s"))
    await ok(store, PutUser(name="ann"))  # a reset
    assert await store.list_secrets("ann") == []
    await ok(store, PutSecret("ann", "TOKEN", "s"))
    await ok(store, DeleteUser(name="ann"))
    await ok(store, PutUser(name="ann"))
    assert await store.list_secrets("ann") == []


async def test_sqlite_adds_the_new_columns_to_an_old_database(tmp_path: object) -> None:
    path = f"{tmp_path}/old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE users (name TEXT PRIMARY KEY, key_hash TEXT,"
        " execution_time_ms REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL);"
        "CREATE TABLE functions (user TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL,"
        " runtime TEXT NOT NULL, timeout REAL NOT NULL, memory_mb INTEGER NOT NULL,"
        " version INTEGER NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (user, name));"
        "INSERT INTO users VALUES ('ann', NULL, 0, 1);"
        "INSERT INTO functions VALUES ('ann', 'add', 'def add(): 1', 'python', 5, 64, 3, 1);"
    )
    old.commit()
    old.close()
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        got = await store.get_function("ann", "add")
        assert got is not None and got.version == 3
        assert got.requirements == [] and got.build is None and got.env == {}
        assert msgspec.to_builtins(got)["secrets"] == []
    finally:
        await store.aclose()
