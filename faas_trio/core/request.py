"""The base of every request, the reply types each names, and the replies any request may
get: :class:`Done`, :class:`ErrorReply` (and :class:`Pong` to the :class:`Ping` every server
answers). Part of the one schema of :mod:`.messages`, which re-exports them."""

from __future__ import annotations

import functools
import typing
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["Done", "ErrorReply", "Ping", "Pong", "Request", "reply_types"]

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


class Pong(msgspec.Struct, frozen=True, tag=True):
    component: str


class Ping(Request[Pong], frozen=True, tag=True):
    """Is the peer alive? Answered by every server with :class:`Pong`."""


class Done(msgspec.Struct, frozen=True, tag=True):
    """Success with nothing to return."""


class ErrorReply(msgspec.Struct, frozen=True, tag=True):
    """Failure: ``code`` is a :class:`~faas_trio.core.errors.FaasError` code."""

    code: str
    message: str
    retry_after: float | None = None
