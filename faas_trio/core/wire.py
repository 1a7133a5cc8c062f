"""The wire encoding of :mod:`faas_trio.core.messages`.

A message on the wire is one ZeroMQ frame (a ROUTER adds the peer identity in front), a
header and a body::

    header = struct "!BQ": protocol version (1 byte), request id (8 bytes)
    body   = msgpack of one tagged message struct (the tag is the class name)

One frame, not two: each frame is a send (and on the other side a receive and a "more?"
check) through pyzmq, about a tenth of what a small message costs in Python.

The decoder validates types, so a handler only ever sees a well-formed message; anything else
raises :class:`~faas_trio.core.errors.ProtocolError` chained to its cause, and the RPC server
answers it with an error reply instead of crashing.
"""

from __future__ import annotations

import struct

import msgspec

from .errors import ProtocolError
from .messages import Message

__all__ = [
    "HEADER_SIZE",
    "PROTOCOL_VERSION",
    "decode_body",
    "decode_header",
    "decode_message",
    "encode_body",
    "encode_header",
    "encode_message",
    "encode_reply",
    "split_message",
]

PROTOCOL_VERSION = 2

_HEADER = struct.Struct("!BQ")
#: Bytes of the header in front of every body.
HEADER_SIZE = _HEADER.size

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


def decode_body(frame: bytes | memoryview) -> Message:
    """The message in a body.

    Raises:
        ProtocolError: not msgpack, or not one of the messages, chained to the cause.
    """
    try:
        return _decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from exc


def encode_message(request_id: int, message: msgspec.Struct) -> bytearray:
    """The frame of ``message`` for ``request_id``: header, then body (encoded in place)."""
    frame = bytearray(_HEADER.pack(PROTOCOL_VERSION, request_id))
    _encoder.encode_into(message, frame, _HEADER.size)
    return frame


def encode_reply(header: bytes, message: msgspec.Struct) -> bytearray:
    """The frame answering a request whose header was ``header`` (its request id kept)."""
    frame = bytearray(header)
    _encoder.encode_into(message, frame, len(header))
    return frame


def split_message(frame: bytes) -> tuple[int, memoryview]:
    """The request id in a frame's header (checked, see :func:`decode_header`) and its body.

    Raises:
        ProtocolError: the frame is shorter than a header, or of another protocol version.
    """
    return decode_header(frame[: _HEADER.size]), memoryview(frame)[_HEADER.size :]


def decode_message(frame: bytes) -> tuple[int, Message]:
    """The request id and the message in a frame.

    Raises:
        ProtocolError: see :func:`decode_header` and :func:`decode_body`.
    """
    request_id, body = split_message(frame)
    return request_id, decode_body(body)
