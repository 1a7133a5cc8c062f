"""The wire encoding of :mod:`faas_trio.core.messages`.

A message on the wire is two ZeroMQ frames (a ROUTER adds the peer identity in front)::

    header = struct "!BQ": protocol version (1 byte), request id (8 bytes)
    body   = msgpack of one tagged message struct (the tag is the class name)

The decoder validates types, so a handler only ever sees a well-formed message; anything else
raises :class:`~faas_trio.core.errors.ProtocolError` chained to its cause, and the RPC server
answers it with an error reply instead of crashing.
"""

from __future__ import annotations

import struct

import msgspec

from .errors import ProtocolError
from .messages import Message

__all__ = ["PROTOCOL_VERSION", "decode_body", "decode_header", "encode_body", "encode_header"]

PROTOCOL_VERSION = 1

_HEADER = struct.Struct("!BQ")

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)


def encode_header(request_id: int) -> bytes:
    """The header frame for ``request_id`` in this protocol version."""
    return _HEADER.pack(PROTOCOL_VERSION, request_id)


def decode_header(frame: bytes) -> int:
    """The request id in a header frame.

    Raises:
        ProtocolError: the frame is not a header, or is of another protocol version.
    """
    if len(frame) != _HEADER.size:
        raise ProtocolError(f"header frame of {len(frame)} bytes, expected {_HEADER.size}")
    version, request_id = _HEADER.unpack(frame)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version} not supported (speak {PROTOCOL_VERSION})")
    return int(request_id)


def encode_body(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


def decode_body(frame: bytes) -> Message:
    """The message in a body frame.

    Raises:
        ProtocolError: not msgpack, or not one of the messages, chained to the cause.
    """
    try:
        return _decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from exc
