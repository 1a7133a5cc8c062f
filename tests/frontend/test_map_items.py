"""A map's body: hostile shapes are clear 400/413s, never a 500."""

from __future__ import annotations

import pytest

from faas_trio.core.errors import BadRequest, PayloadTooLarge
from faas_trio.frontend import inputs
from faas_trio.frontend.groups import parse_items


def test_items_are_canonical_argument_texts() -> None:
    assert parse_items(b'[[1, 2], [{"b": 1, "a": 2}]]', 10) == ["[1,2]", '[{"a":2,"b":1}]']


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "too deeply"),
        (b"[[" + b"[" * 70 + b"]" * 70 + b"]]", "item 0"),
        (b"[[1], [99999999999999999999]]", "item 1"),
        (b"[[1], 2]", "item 1"),
        (b'{"a": 1}', "JSON array of argument arrays"),
        (b"[]", "at least one item"),
        (b"[[1", "not JSON"),
    ],
)
def test_hostile_bodies_are_400(body: bytes, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        parse_items(body, 10)


def test_too_many_items_is_413() -> None:
    with pytest.raises(PayloadTooLarge, match="FAAS_MAP_MAX_ITEMS"):
        parse_items(b"[" + b",".join([b"[]"] * 11) + b"]", 10)


def test_a_huge_offset_is_400() -> None:
    with pytest.raises(BadRequest, match="offset"):
        inputs.offset("99999999999999999999")
