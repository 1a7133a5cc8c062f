"""Untrusted JSON read in bounded time and memory, for the sandbox protocols.

:func:`flat_object` scans an object of scalar fields with the stdlib's C string scanner and no
recursion, so a hostile runner cannot make the worker recurse or build nested structures;
:func:`small_object` parses a size-bounded object; :func:`strings` and :func:`positive` check
one field. Every failure is a ``ValueError`` saying what was wrong (the protocol module turns
it into its ``ProtocolError``). Standard library only: it runs in the zygote's interpreter.
"""

from __future__ import annotations

import json
import json.decoder
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from typing import Any, TypeGuard

__all__ = ["flat_object", "positive", "small_object", "strings"]

#: The C scanner of one JSON string (the stdlib's own, not in its stubs).
_scanstring: Callable[[str, int, bool], tuple[str, int]]
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

_SPACE = re.compile(r"[ \t\n\r]*")
_LITERALS = {"true": True, "false": False, "null": None}


#: Text up to this long is parsed by the stdlib's C parser at once: what it can nest or
#: build is bounded by the length (and its recursion by the interpreter's limit).
_SHORT_TEXT = 4096


class _Pairs(list[tuple[str, object]]):
    """An object's fields in order, as the C parser gives them (an array is a plain list)."""


def flat_object(text: str, names: Collection[str]) -> dict[str, object]:
    """The JSON object in ``text``, whose keys are among ``names`` (each at most once) and
    whose values are strings, booleans or null (no number). Each string is scanned by the C
    scanner; nothing nests, so nothing recurses: time and memory are linear in ``len(text)``.

    Raises:
        ValueError: anything else, saying what and where.
    """
    if len(text) <= _SHORT_TEXT:
        short = _short_flat_object(text, names)
        if short is not None:
            return short
    fields: dict[str, object] = {}
    position = _skip(text, 0)
    if not text.startswith("{", position):
        raise ValueError("not a JSON object")
    position = _skip(text, position + 1)
    if text.startswith("}", position):
        position += 1
    else:
        while True:
            if not text.startswith('"', position):
                raise ValueError(f"expected a field name at byte {position}")
            key, position = _string(text, position)
            if key not in names or key in fields:
                raise ValueError(f"unexpected or repeated field {key[:64]!r}")
            position = _skip(text, position)
            if not text.startswith(":", position):
                raise ValueError(f"expected ':' at byte {position}")
            fields[key], position = _scalar(text, _skip(text, position + 1), key)
            position = _skip(text, position)
            if text.startswith(",", position):
                position = _skip(text, position + 1)
            elif text.startswith("}", position):
                position += 1
                break
            else:
                raise ValueError(f"expected ',' or '}}' at byte {position}")
    if _skip(text, position) != len(text):
        raise ValueError("data after the object")
    return fields


def _short_flat_object(text: str, names: Collection[str]) -> dict[str, object] | None:
    """:func:`flat_object` of a short text in one call of the C parser (a map item's reply
    usually is one), or None if it is not one: the scanner then says what is wrong."""
    try:
        pairs = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None
    if not isinstance(pairs, _Pairs):
        return None
    fields: dict[str, object] = {}
    for key, value in pairs:
        if key not in names or key in fields:
            return None
        if value is not None and not isinstance(value, (str, bool)):
            return None
        fields[key] = value
    return fields


def _skip(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return position if match is None else match.end()


def _string(text: str, position: int) -> tuple[str, int]:
    try:
        return _scanstring(text, position + 1, True)
    except ValueError as exc:
        raise ValueError(f"malformed string ({exc})") from None


def _scalar(text: str, position: int, key: str) -> tuple[object, int]:
    if text.startswith('"', position):
        return _string(text, position)
    for literal, value in _LITERALS.items():
        if text.startswith(literal, position):
            return value, position + len(literal)
    raise ValueError(f"field {key} must be a string, a boolean or null")


def small_object(data: bytes, what: str, limit: int) -> dict[str, Any]:
    """The JSON object in ``data``, the ``what`` of a message of at most ``limit`` bytes
    (bounded first, so the stdlib parser's recursion and memory are bounded too).

    Raises:
        ValueError: over the limit, not JSON, or not an object.
    """
    if len(data) > limit:
        raise ValueError(f"the {what} is over {limit} bytes")
    try:
        fields = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the {what} is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise ValueError(f"the {what} is not a JSON object")
    return fields


def strings(value: object, what: str) -> list[str]:
    """``value`` if it is a list of strings (``what`` names it in the error)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{what} must be a list of strings")
    return value


def positive(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a positive integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
