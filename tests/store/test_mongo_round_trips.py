"""How many commands each admin op alone costs the MongoDB store: the ops whose outcome the
write can tell cost that one write (one read more only to word a ``NotFound``), the others
read first (see :mod:`faas_trio.store.mongo_direct` for which and why).

Counted by the store's command monitoring, so a read that comes back before a write fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from faas_trio.core.errors import Conflict, NotFound
from faas_trio.core.messages import (
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    Done,
    FunctionReply,
    PutFunction,
    PutSecret,
    PutUser,
)
from faas_trio.core.records import Function, Runtime
from faas_trio.store.base import WriteOp, WriteResult
from faas_trio.store.mongo import MongoStore

pytestmark = pytest.mark.mongo

ADD = PutFunction(
    function=Function(
        user="ann", name="add", source="def add(a, b): return a + b",
        runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64,
    )
)  # fmt: skip
MISSING_JOB = "65f0a1b2c3d4e5f6000000ff"


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoStore]:
    """A store holding user ann with function add and secret token."""
    async with await MongoStore.open(mongo_url, retention=3600.0) as opened:
        await opened.apply(
            [PutUser(name="ann"), ADD, PutSecret(user="ann", name="token", sealed="s")]
        )
        yield opened


async def cost(store: MongoStore, op: WriteOp) -> tuple[WriteResult, int]:
    """``op``'s result applied alone, and the commands it sent."""
    before = store.metrics().commands_total.get("write", 0)
    [result] = await store.apply([op])
    return result, store.metrics().commands_total.get("write", 0) - before


# (op, its result (or the error's type and message), the commands it costs)
CASES: list[tuple[WriteOp, object, int]] = [
    (PutUser(name="bob"), Done(), 1),
    (PutUser(name="ann"), Done(), 1),
    (PutUser(name="bob", create_only=True), Done(), 1),
    (PutUser(name="ann", create_only=True), (Conflict, "user 'ann' exists already"), 1),
    (PutSecret(user="ann", name="other", sealed="s"), Done(), 1),
    (PutSecret(user="bob", name="other", sealed="s"), (NotFound, "user 'bob' not found"), 1),
    (DeleteSecret(user="ann", name="token"), Done(), 1),
    (
        DeleteSecret(user="ann", name="nope"),
        (NotFound, "secret 'nope' not found for user 'ann'"),
        2,
    ),
    (DeleteSecret(user="bob", name="token"), (NotFound, "user 'bob' not found"), 2),
    (DeleteFunction(user="ann", name="add"), Done(), 1),
    (
        DeleteFunction(user="ann", name="nope"),
        (NotFound, "function 'nope' not found for user 'ann'"),
        2,
    ),
    (DeleteFunction(user="bob", name="add"), (NotFound, "user 'bob' not found"), 2),
    (DeleteJob(id=MISSING_JOB), (NotFound, f"job '{MISSING_JOB}' not found"), 1),
    (DeleteJob(id="not-a-job"), (NotFound, "job 'not-a-job' not found"), 0),
    # Read first: the new version is computed from the stored one (users, versions; then
    # the version's upsert and the user's update).
    (ADD, FunctionReply, 4),
    # Read first: the user's jobs go before the user, and only if the user exists.
    (DeleteUser(name="ann"), Done(), 3),
    (DeleteUser(name="bob"), (NotFound, "user 'bob' not found"), 1),
]


@pytest.mark.parametrize(("op", "expected", "commands"), CASES, ids=lambda v: repr(v)[:60])
async def test_an_admin_op_alone_costs(
    store: MongoStore, op: WriteOp, expected: object, commands: int
) -> None:
    result, sent = await cost(store, op)
    if isinstance(expected, tuple):
        kind, message = expected
        assert isinstance(result, kind) and str(result) == message
    elif isinstance(expected, type):
        assert isinstance(result, expected)
    else:
        assert result == expected
    assert sent == commands
