"""The function sources the scenarios register, in Python and JavaScript."""

from __future__ import annotations

__all__ = ["NODE_ADD", "PY_ADD", "PY_NAP", "node_cold", "python_cold"]

#: Adds two numbers: the cheapest call, for latency and throughput.
PY_ADD = "def add(a, b):\n    return a + b\n"
NODE_ADD = "async function add(a, b) { return a + b; }\n"

#: Sleeps ``seconds`` (0 returns at once): slow jobs, and jobs that hold a worker.
PY_NAP = "def nap(seconds):\n    import time\n    time.sleep(seconds)\n    return seconds\n"


def python_cold(index: int) -> tuple[str, str]:
    """``(name, source)`` of a Python function no earlier call has seen."""
    name = f"cold_py_{index}"
    return name, f"def {name}(a, b):\n    return a + b + {index} - {index}\n"


def node_cold(index: int) -> tuple[str, str]:
    """``(name, source)`` of a JavaScript function no earlier call has seen."""
    name = f"cold_js_{index}"
    return name, f"async function {name}(a, b) {{ return a + b + {index} - {index}; }}\n"
