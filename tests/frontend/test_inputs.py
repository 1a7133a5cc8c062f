"""Checks on names, bodies and query parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faas_trio.core.errors import BadRequest
from faas_trio.core.ids import new_job_id
from faas_trio.frontend import inputs

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


# Lists of at most 8 values (of at most 20 leaves each): what is checked is each kind of
# value and nesting, which a longer list only repeats at a higher cost to generate.
@settings(max_examples=50)
@given(st.lists(json_values, max_size=8))
def test_args_text_keeps_the_value(args: list[Any]) -> None:
    text = inputs.args_text(json.dumps(args).encode())
    assert json.loads(text) == args
    assert inputs.args_text(text.encode()) == text  # canonical: a fixed point


def test_args_text_blank_is_empty_array() -> None:
    assert inputs.args_text(b"") == "[]"
    assert inputs.args_text(b" \r\n\t") == "[]"


def test_wait_bounds() -> None:
    assert inputs.wait(None, 60) == 0
    assert inputs.wait("", 60) == 0
    assert inputs.wait("0", 60) == 0
    assert inputs.wait("60", 60) == 60
    assert inputs.wait("0.25", 60) == 0.25
    for bad in ["60.001", "-1", "x", "inf", "1e400"]:
        with pytest.raises(BadRequest):
            inputs.wait(bad, 60)


def test_job_id() -> None:
    job_id = new_job_id()
    assert inputs.check_job_id(job_id) == job_id
    with pytest.raises(BadRequest, match="malformed job id"):
        inputs.check_job_id(job_id.upper())


def test_runtime() -> None:
    assert inputs.runtime(None) is None
    assert inputs.runtime("node") is not None
    with pytest.raises(BadRequest):
        inputs.runtime("Python")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64"),
        ("[" + "[" * 64 + "]" * 64 + "]", "nested deeper than 64"),
        ('[{"a": ' * 70 + "1" + "}]" * 70, "nested deeper than 64"),
        ("[123456789012345678901234567890]", "an integer outside 64 bits"),
        ("[1e999]", "not valid JSON"),
        ("[NaN]", "not valid JSON"),
    ],
)
def test_args_a_store_cannot_hold_are_bad_requests(body: str, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        inputs.args_text(body.encode())


def test_args_at_the_depth_limit_and_int64_bounds_pass() -> None:
    deep = "[" * 64 + "]" * 64
    assert inputs.args_text(deep.encode()) == deep
    edge = f"[{(1 << 63) - 1},{-(1 << 63)},1e300]"
    assert inputs.args_text(edge.encode()) == edge
