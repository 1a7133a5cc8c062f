"""Telling the jqmanager of a change (``ForgetFunctions``) when it is out of reach: the change
is answered after :data:`~faas_trio.frontend.peers.FORGET_TIMEOUT`, not the RPC timeout, and
the notice is owed: told before that user's next call is submitted (which is refused while it
cannot be), and in the background. A real RPC server stands in for the jqmanager, on a port
where nothing listens until the test starts it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from faas_trio.core.errors import NotFound, PeerUnavailable
from faas_trio.core.messages import Done, ForgetFunctions, Message, Submit
from faas_trio.core.records import Submission
from faas_trio.core.rpc import open_client, serve_rpc
from faas_trio.frontend import peers as peers_module
from faas_trio.frontend.peers import Peers

SUBMIT = Submit(Submission(id="0" * 24, user="ann", function="add", args="[]", created_at=0.0))


@pytest.fixture
def endpoint(free_ports: Callable[[int], list[int]]) -> str:
    return f"tcp://127.0.0.1:{free_ports(1)[0]}"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers_module, "FORGET_TIMEOUT", 0.1)
    monkeypatch.setattr(peers_module, "OWED_RETRY_INTERVAL", 0.05)


@asynccontextmanager
async def open_peers(endpoint: str, rpc_timeout: float) -> AsyncIterator[Peers]:
    async with open_client(endpoint, name="frontend->jqmanager", identity=None) as jq:
        yield Peers(db=jq, jq=jq, rpc_timeout=rpc_timeout)  # the dbmanager is not asked


async def jqmanager(
    endpoint: str, heard: list[Message], *, task_status: trio.TaskStatus[str]
) -> None:
    """Answers ``ForgetFunctions`` with Done and any submission with NotFound."""

    async def handle(request: Message) -> Message:
        heard.append(request)
        if isinstance(request, ForgetFunctions):
            return Done()
        raise NotFound("no function ann/add")

    await serve_rpc(endpoint, handle, name="jqmanager", identity=None, task_status=task_status)


async def test_an_unheard_change_is_answered_soon_and_told_before_the_next_call(
    endpoint: str,
) -> None:
    heard: list[Message] = []
    async with open_peers(endpoint, rpc_timeout=30.0) as peers, trio.open_nursery() as nursery:
        with trio.fail_after(10.0):  # far below the RPC timeout
            await peers.forget_functions("ann", "add")
        assert peers.owed() == [("ann", "add")]
        await nursery.start(jqmanager, endpoint, heard)  # the jqmanager is back
        with trio.fail_after(10.0), pytest.raises(NotFound):
            await peers.ask_jq(SUBMIT)
        assert heard == [ForgetFunctions("ann"), SUBMIT]
        assert peers.owed() == []
        with trio.fail_after(10.0):  # heard at once now: owes nothing
            await peers.forget_functions("ann", "mul")
        assert heard[2:] == [ForgetFunctions("ann", "mul")] and peers.owed() == []
        nursery.cancel_scope.cancel()


async def test_a_call_is_refused_while_its_users_change_cannot_be_told(endpoint: str) -> None:
    async with open_peers(endpoint, rpc_timeout=0.2) as peers:
        await peers.forget_functions("ann")
        with trio.fail_after(10.0), pytest.raises(PeerUnavailable, match="ForgetFunctions"):
            await peers.ask_jq(SUBMIT)
        assert peers.owed() == [("ann", None)]


async def test_owed_changes_are_told_once_the_jqmanager_is_back(endpoint: str) -> None:
    heard: list[Message] = []
    async with open_peers(endpoint, rpc_timeout=0.2) as peers, trio.open_nursery() as nursery:
        nursery.start_soon(peers.keep_telling)
        await peers.forget_functions("ann", "add")
        await peers.forget_functions("bob")
        await trio.sleep(0.3)  # a failed attempt or more
        assert peers.owed() == [("ann", "add"), ("bob", None)]
        await nursery.start(jqmanager, endpoint, heard)
        with trio.fail_after(10.0):
            while peers.owed():  # noqa: ASYNC110 (a test watching state it does not own)
                await trio.sleep(0.02)
        assert sorted(heard, key=repr) == [ForgetFunctions("ann"), ForgetFunctions("bob")]
        nursery.cancel_scope.cancel()


async def test_a_heard_change_is_told_once(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the background teller running, a notice the jqmanager confirms in time is the
    only one: it is not sent again (as "all of the user's functions") while on its way."""
    monkeypatch.setattr(peers_module, "FORGET_TIMEOUT", 5.0)  # in time, however busy
    heard: list[Message] = []
    async with open_peers(endpoint, rpc_timeout=5.0) as peers, trio.open_nursery() as nursery:
        await nursery.start(jqmanager, endpoint, heard)
        nursery.start_soon(peers.keep_telling)
        with trio.fail_after(10.0):
            await peers.forget_functions("ann", "add")
        await trio.sleep(0.2)  # time for a second notice, were one sent
        assert heard == [ForgetFunctions("ann", "add")] and peers.owed() == []
        nursery.cancel_scope.cancel()
