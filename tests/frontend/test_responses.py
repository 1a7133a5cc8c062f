"""The envelope and the error mapping, through the app."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from faas_trio.core.errors import BadRequest, InternalError, TooManyRequests
from faas_trio.core.messages import Message, Pong
from faas_trio.core.public import public_record
from faas_trio.core.records import JobRecord, JobState, Runtime
from faas_trio.core.rpc import open_client, serve_rpc
from faas_trio.frontend import create_app
from faas_trio.frontend.peers import Peers
from faas_trio.frontend.responses import error_response

from .neighbours import TEST_CONFIG, Neighbours, envelope_of


def test_too_many_requests_is_429_with_retry_after_rounded_up() -> None:
    response = error_response(TooManyRequests("queue full", retry_after=2.5))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


async def test_peer_error_codes_keep_their_status(
    nursery: trio.Nursery, neighbours: Neighbours
) -> None:
    async def failing_jqmanager(request: Message) -> Message:
        """A jqmanager that fails with an internal error: a fault the real one cannot be made
        to produce (it would be a bug), so this is a fake."""
        raise InternalError(f"jqmanager failed on {type(request).__name__}")

    jq_url = await nursery.start(partial(serve_rpc, "tcp://127.0.0.1:*", failing_jqmanager))
    async with open_client(neighbours.db_url) as db, open_client(jq_url) as jq:
        client = create_app(TEST_CONFIG, Peers(db=db, jq=jq, rpc_timeout=5.0)).test_client()
        await client.post("/u/ann")
        await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
        assert await envelope_of(await client.post("/u/ann/fn/add/run")) == (
            500,
            True,
            "jqmanager failed on Submit",
        )


async def test_unexpected_reply_type_is_502(nursery: trio.Nursery) -> None:
    async def answer_pong(request: Message) -> Message:
        return Pong("confused")

    endpoint = await nursery.start(partial(serve_rpc, "tcp://127.0.0.1:*", answer_pong))
    async with (
        open_client(endpoint, name="frontend->dbmanager") as db,
        open_client(endpoint) as jq,
    ):
        client = create_app(TEST_CONFIG, Peers(db=db, jq=jq, rpc_timeout=5.0)).test_client()
        assert await envelope_of(await client.get("/u/ann/time")) == (
            502,
            True,
            "frontend->dbmanager: answered Pong to GetUser, expected UserReply",
        )


async def test_bug_in_a_route_is_500_envelope(neighbours: Neighbours) -> None:
    async with open_client(neighbours.db_url) as db, open_client(neighbours.jq_url) as jq:
        app = create_app(TEST_CONFIG, Peers(db=db, jq=jq, rpc_timeout=5.0))

        @app.get("/boom")
        async def boom() -> str:
            raise RuntimeError("secret detail")

        response = await app.test_client().get("/boom")
        assert await envelope_of(response) == (500, True, "internal error")


async def test_error_response_without_retry_after() -> None:
    response = error_response(BadRequest("nope"))
    assert response.status_code == 400
    assert "Retry-After" not in response.headers
    assert await response.get_data() == b'{"error":true,"res":"nope"}'


def _record(**changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "id": "0" * 24,
        "user": "ann",
        "function": "add",
        "runtime": Runtime.NODE,
        "args": "[1]",
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "decoded"),
    [(None, None), ("11", 11), ('"x"', "x"), ('{"a":[1]}', {"a": [1]}), ("not json", "not json")],
)
def test_public_record_decodes_value(value: str | None, decoded: object) -> None:
    out = public_record(_record(state=JobState.SUCCEEDED, value=value))
    assert out["value"] == decoded
    assert out["args"] == [1]
    assert (out["state"], out["runtime"]) == ("succeeded", "node")
