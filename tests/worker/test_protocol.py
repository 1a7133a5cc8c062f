"""The sandbox protocols (faas_trio.worker.sandbox.protocol): what each side sends, and what
the worker's side refuses of a hostile runner or a broken zygote."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faas_trio.worker.sandbox import protocol
from faas_trio.worker.sandbox.protocol import (
    BatchRequest,
    CallRequest,
    ConfineOptions,
    LoadRequest,
    ProtocolError,
    Reply,
    SpawnReply,
    SpawnRequest,
)

CALL = CallRequest(args="[1]", timeout=2.0, result_cap=100)
LOAD = LoadRequest(name="f", source="def f(): pass", timeout=5.0)
#: Any JSON value.
JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def body(frame: bytes) -> bytes:
    (length,) = protocol.HEADER.unpack(frame[: protocol.HEADER.size])
    assert len(frame) == protocol.HEADER.size + length
    return frame[protocol.HEADER.size :]


BATCH = BatchRequest(args=("[1]", '["a\\"b"]', "[]"), timeout=2.0, result_cap=100)


@pytest.mark.parametrize("request_", [CALL, LOAD, BATCH])
def test_requests_round_trip(request_: protocol.Request) -> None:
    assert protocol.parse_request(body(protocol.encode_request(request_))) == request_


def test_a_batch_items_reply_is_checked_and_capped_as_a_calls() -> None:
    assert protocol.reply_cap(BATCH, 4096) == protocol.reply_cap(CALL, 4096)
    frame = body(protocol.encode_reply(Reply(ok=True)))
    with pytest.raises(ProtocolError, match="value and a text"):
        protocol.parse_reply(frame, BATCH)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(ok=True, logs="made\n", value="[1]", text="[1]"),
        Reply(ok=False, error="TypeError: boom", message="boom", logs=""),
        Reply(ok=False, error="TimeoutError: late", message="late", timeout=True),
    ],
)
def test_replies_round_trip(reply: Reply) -> None:
    assert protocol.parse_reply(body(protocol.encode_reply(reply)), CALL) == reply


def test_a_load_reply_needs_no_value_but_a_call_reply_does() -> None:
    frame = body(protocol.encode_reply(Reply(ok=True)))
    assert protocol.parse_reply(frame, LOAD) == Reply(ok=True)
    with pytest.raises(ProtocolError, match="value and a text"):
        protocol.parse_reply(frame, CALL)


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    escaped = b'{"ok": true, "value": "\\"\\ud800\\"", "text": "a\\udfffb\\ud83d\\ude00"}'
    reply = protocol.parse_reply(escaped, CALL)
    assert (reply.value, reply.text) == ('"\ufffd"', "a\ufffdb\U0001f600")
    raw = b'{"ok": true, "value": "1", "text": "\xff\xfe\xed\xa0\x80"}'  # invalid UTF-8
    assert set(protocol.parse_reply(raw, CALL).text or "") == {"\ufffd"}
    # And what a runner encodes is valid UTF-8 whatever its strings hold.
    frame = protocol.encode_reply(Reply(ok=True, value='"\ud800"', text="\udc00"))
    assert (
        body(frame).decode("utf-8")
        == '{"ok": true, "logs": "", "value": "\\"\ufffd\\"", "text": "\ufffd"}'
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "JSON object"),
        (b"[]", "JSON object"),
        (b'{"ok": true, "value": "1", "text": "1"} x', "after the object"),
        (b'{"ok": true, "ok": true}', "repeated"),
        (b'{"ok": false, "error": "e", "duration_ms": 1}', "unexpected"),
        (b'{"ok": false, "error": "e", "logs": NaN}', "string, a boolean or null"),
        (b'{"ok": false, "error": "e", "logs": 1e999}', "string, a boolean or null"),
        (b'{"ok": false, "error": ["e"]}', "string, a boolean or null"),
        (b'{"ok": false, "error": {"a": 1}}', "string, a boolean or null"),
        (b'{"ok": 1, "error": "e"}', "string, a boolean or null"),
        (b'{"ok": "yes", "error": "e"}', "booleans"),
        (b'{"ok": false}', "needs an error"),
        (b'{"ok": false, "error": 5}', "string, a boolean or null"),
        (b'{"ok": false, "error": "e\x01"}', "malformed string"),
        (b'{"ok": false, "error": "e', "malformed string"),
    ],
)
def test_malformed_replies_are_refused_saying_why(data: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(problem)):
        protocol.parse_reply(data, CALL)


def test_deep_nesting_is_refused_at_once_without_recursion() -> None:
    deep = b'{"ok": false, "error": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    started = time.perf_counter()
    with pytest.raises(ProtocolError):
        protocol.parse_reply(deep, CALL)
    # Refused at the first bracket: the rest is not even looked at (not a timing assert of
    # the machine's speed; a recursive parse would raise RecursionError, not ProtocolError).
    assert time.perf_counter() - started < 5


def test_reply_cap_leaves_room_for_a_full_honest_reply() -> None:
    log_cap = 4096
    cap = protocol.reply_cap(CALL, log_cap)
    worst = Reply(
        ok=True,
        logs="\x00" * log_cap,
        value='"' + "\x01" * (CALL.result_cap - 2) + '"',
        text="\x02" * CALL.result_cap,
        error="\x03" * protocol.MAX_ERROR_CHARS,
        message="\x04" * protocol.MAX_ERROR_CHARS,
    )
    assert len(body(protocol.encode_reply(worst))) <= cap
    assert protocol.reply_cap(LOAD, log_cap) < cap


def test_a_runner_cuts_long_errors() -> None:
    long = Reply(ok=False, error="E" * 100_000, message="m" * 100_000)
    reply = protocol.parse_reply(body(protocol.encode_reply(long)), CALL)
    assert len(reply.error or "") == len(reply.message or "") == protocol.MAX_ERROR_CHARS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_give_a_reply_or_a_protocol_error(data: bytes) -> None:
    check_parses_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["ok", "logs", "value", "text", "error", "message",
                                         "timeout", "duration_ms", "x"]), JSON))  # fmt: skip
def test_arbitrary_json_gives_a_reply_or_a_protocol_error(fields: dict[str, object]) -> None:
    check_parses_or_refuses(json.dumps(fields).encode())
    check_parses_or_refuses(json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def check_parses_or_refuses(data: bytes) -> None:
    for request in (CALL, LOAD):
        try:
            reply = protocol.parse_reply(data, request)
        except ProtocolError:
            continue
        for text in (reply.logs, reply.value, reply.text, reply.error, reply.message):
            if text is not None:
                text.encode("utf-8")  # valid: raises on a lone surrogate


def test_node_runner_agrees_on_the_error_cap() -> None:
    source = (Path(protocol.__file__).parent / "node_runner.js").read_text()
    found = re.search(r"const MAX_ERROR_CHARS = (\d+);", source)
    assert found is not None and int(found.group(1)) == protocol.MAX_ERROR_CHARS


# -- zygote messages --------------------------------------------------------------------------


def test_spawn_requests_round_trip() -> None:
    request = SpawnRequest(
        "node", ("/usr/bin/node", "runner.js"), {"HOME": "/s"}, "/s",
        ConfineOptions(uid=61234, nproc=8, read=("/r",), address_space_mb=1024),
    )  # fmt: skip
    assert protocol.parse_spawn_request(protocol.encode_spawn_request(request)) == request


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"runtime": "ruby", "argv": [], "env": {}, "home": "/"}, "runtime"),
        ({"runtime": "node", "argv": [], "env": {}, "home": "/"}, "runtime"),
        ({"runtime": "python", "argv": [1], "env": {}, "home": "/"}, "argv"),
        ({"runtime": "python", "argv": [], "env": {"A": 1}, "home": "/"}, "env"),
        ({"runtime": "python", "argv": [], "env": {}, "home": "rel"}, "home"),
        ({"runtime": "python", "argv": [], "env": {}, "home": "/", "confine": []}, "confine"),
        (
            {
                "runtime": "python",
                "argv": [],
                "env": {},
                "home": "/",
                "confine": {"uid": True, "nproc": 1},
            },
            "uid",
        ),  # fmt: skip
        (
            {
                "runtime": "python",
                "argv": [],
                "env": {},
                "home": "/",
                "confine": {"uid": 5, "nproc": 1, "address_space_mb": "1"},
            },
            "address_space_mb",
        ),  # fmt: skip
    ],
)
def test_malformed_spawn_requests_are_refused(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        protocol.parse_spawn_request(json.dumps(fields).encode())


def test_deep_or_huge_spawn_messages_are_refused() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        protocol.parse_spawn_request(b"[" * 60_000)
    with pytest.raises(ProtocolError, match="over 65536 bytes"):
        protocol.parse_spawn_request(b" " * 70_000)


def test_spawn_replies() -> None:
    pid = protocol.encode_spawn_reply(SpawnReply(pid=42))
    assert protocol.parse_spawn_reply(pid, 1) == SpawnReply(pid=42)
    error = protocol.encode_spawn_reply(SpawnReply(error="no \udc00"))
    assert protocol.parse_spawn_reply(error, 0) == SpawnReply(error="no \ufffd")
    for data, descriptors in ((pid, 0), (error, 1), (b'{"pid": -1}', 1), (b'{"pid": 1.5}', 1),
                              (b'{"pid": 4, "x": 1}', 1), (b"[" * 100_000, 0)):  # fmt: skip
        with pytest.raises(ProtocolError):
            protocol.parse_spawn_reply(data, descriptors)
