"""Whether quart-trio holds a request's whole body: read from its private flags, and a body
without them (another Quart) counts as not arrived, so it is read again, never an error."""

from __future__ import annotations

from quart_trio.wrappers.request import TrioBody

from faas_trio.frontend.app import _body_arrived


async def test_a_complete_body_has_arrived_and_anything_else_is_read_again() -> None:
    body = TrioBody(expected_content_length=2, max_content_length=None)
    assert not _body_arrived(body)
    body.append(b"[]")
    body.set_complete()
    assert _body_arrived(body)
    too_big = TrioBody(expected_content_length=10, max_content_length=1)  # it must raise on read
    too_big.set_complete()
    assert not _body_arrived(too_big)
    assert not _body_arrived(object())
