"""Telling Python from JavaScript."""

from __future__ import annotations

import pytest

from faas_trio.core.records import Runtime
from faas_trio.frontend.runtime_detect import detect_runtime


@pytest.mark.parametrize(
    "source",
    [
        "def add(a, b):\n    return a + b\n",
        "import math\n\nasync def f(x):\n    return math.sqrt(x)\n",
        "# uses => in a string\ndef f():\n    return 'a => b'\n",
        "def  spaced (x): return x",
    ],
)
def test_python(source: str) -> None:
    assert detect_runtime(source) is Runtime.PYTHON


@pytest.mark.parametrize(
    "source",
    [
        "async function add(a,b){ return a+b; }",
        "function add(a, b) { return a + b }",
        "(a, b) => a + b",
        "const f = (x) => x * 2",
        "let x = 1",
        "var x = 1",
        "module.exports = function (x) { return x }",
        "  def = 3; var y = def",  # 'def' not at line start, not followed by a call signature
    ],
)
def test_javascript(source: str) -> None:
    assert detect_runtime(source) is Runtime.NODE


@pytest.mark.parametrize("source", ["print(1)", "return 42", "lambda x: x", "undefined_fn"])
def test_cannot_tell(source: str) -> None:
    assert detect_runtime(source) is None
