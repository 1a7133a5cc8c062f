"""The base of every request, and the reply types each names (:mod:`.messages`)."""

from __future__ import annotations

import functools
import typing
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["Request", "reply_types"]

#: The reply type of a request (a union when it has several).
R = TypeVar("R")


class Request(msgspec.Struct, Generic[R], frozen=True):
    """A message that asks for something; ``R`` is what a successful answer is."""


@functools.cache
def reply_types(request_type: type[Any]) -> tuple[type[Any], ...]:
    """The reply types ``request_type`` may be answered with (besides :class:`ErrorReply`);
    empty for a message that is not a request."""
    for base in getattr(request_type, "__orig_bases__", ()):
        if typing.get_origin(base) is Request:
            (reply,) = typing.get_args(base)
            return typing.get_args(reply) or (reply,)
    return ()
