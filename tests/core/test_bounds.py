"""core.bounds: what a record may hold, checked without recursion."""

from __future__ import annotations

import json
import math

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faas_trio.core.bounds import (
    MAX_ATTEMPTS,
    MAX_DURATION_MS,
    MAX_JSON_DEPTH,
    JsonRefused,
    bounded_record,
    clamp,
    json_depth_exceeds,
    stored_json_problem,
    stored_json_text,
)
from faas_trio.core.records import JobRecord, JobState, Runtime


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_is_measured_without_recursion() -> None:
    deep = json.loads("[" * 900 + "]" * 900)
    assert json_depth_exceeds(deep, 899) and not json_depth_exceeds(deep, 900)
    assert not json_depth_exceeds(5) and not json_depth_exceeds([]) and json_depth_exceeds([], 0)
    assert stored_json_problem([[1 << 63]]) == "an integer outside 64 bits (9223372036854775808...)"
    assert stored_json_problem([-(1 << 63), (1 << 63) - 1, 1e308]) is None
    assert stored_json_problem([1 << 70], int64=False) is None


@pytest.mark.parametrize(
    "text", ["1", '"x"', nested(MAX_JSON_DEPTH), '{"a": [1, 2.5, null, true]}', "1" * 40]
)
def test_storable_json_is_kept_as_is(text: str) -> None:
    assert stored_json_text(text) == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (nested(MAX_JSON_DEPTH + 1), "nested deeper than 64"),
        (nested(100_000), "nested deeper than 64"),
        ("NaN", "not valid JSON"),
        ("[1e999]", "not valid JSON"),
        ("[Infinity]", "not valid JSON"),
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_unstorable_json_is_refused_saying_why(text: str, problem: str) -> None:
    with pytest.raises(JsonRefused, match=problem):
        stored_json_text(text)


def test_lone_surrogate_escapes_are_rewritten_valid() -> None:
    assert stored_json_text('["\\ud800x", "\\ud83d\\ude00"]') == '["\ufffdx", "\U0001f600"]'


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_any_text_is_kept_rewritten_or_refused(text: str) -> None:
    try:
        kept = stored_json_text(text)
    except JsonRefused:
        return
    msgspec.json.decode(kept)
    kept.encode("utf-8")


def test_clamp() -> None:
    assert clamp(math.nan, 0, 10, default=3) == 3
    assert clamp(math.inf, 0, 10, default=3) == 3
    assert (clamp(-5, 0, 10, default=3), clamp(50, 0, 10, default=3)) == (0, 10)
    assert clamp(True, 0, 10, default=3) == 3


def record(**fields: object) -> JobRecord:
    return JobRecord(
        id="0" * 24, user="ann", function="f", runtime=Runtime.PYTHON, args="[]",
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_sound_record_is_returned_unchanged() -> None:
    sound = record(state=JobState.SUCCEEDED, value="[1]", duration_ms=5.0, started_at=1.0)
    assert bounded_record(sound) is sound


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"duration_ms": math.nan}, {"duration_ms": None}),
        ({"duration_ms": -1.0}, {"duration_ms": 0.0}),
        ({"duration_ms": 1e300}, {"duration_ms": MAX_DURATION_MS}),
        ({"init_ms": math.inf}, {"init_ms": None}),
        ({"started_at": math.nan, "finished_at": -math.inf}, {"started_at": None}),
        ({"created_at": math.nan}, {"created_at": 0.0}),
        ({"attempts": 1 << 70}, {"attempts": MAX_ATTEMPTS}),
        ({"attempts": -3}, {"attempts": 0}),
        ({"value": '"\\ud800"'}, {"value": '"\ufffd"'}),
    ],
)
def test_bad_numbers_are_clamped(fields: dict[str, object], expected: dict[str, object]) -> None:
    bounded = bounded_record(record(state=JobState.SUCCEEDED, **fields))
    for name, value in expected.items():
        assert getattr(bounded, name) == value, name
    msgspec.msgpack.encode(bounded)


def test_an_unstorable_value_fails_the_record_saying_why() -> None:
    bounded = bounded_record(record(state=JobState.SUCCEEDED, value=nested(500), result="x"))
    assert (bounded.state, bounded.value) == (JobState.FAILED, None)
    assert bounded.error == (
        "InvalidResult: the result cannot be stored: it is nested deeper than 64 levels of"
        " arrays and objects"
    )
