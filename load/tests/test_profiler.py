"""The profile summary and the CPU-per-item arithmetic, on made-up inputs."""

from __future__ import annotations

import os

from load.cpu import component_cpu_seconds, cpu_per_item_ms
from load.profiler import summarize

RAW = (
    "<module> (/x/faas_trio/__main__.py:1);serve (/x/faas_trio/core/rpc.py:10);"
    "send (/v/site-packages/zmq/sugar/socket.py:700) 30\n"
    "<module> (/x/faas_trio/__main__.py:1);serve (/x/faas_trio/core/rpc.py:12) 10\n"
    "not a sample line\n"
)


def test_summary_counts_own_time_at_the_leaf_and_inclusive_time_of_our_code() -> None:
    total, own, inclusive = summarize(RAW)
    assert total == 40
    assert own == [("send (zmq/sugar/socket.py)", 30), ("serve (faas_trio/core/rpc.py)", 10)]
    # Line numbers are dropped: both samples of serve count for one function.
    assert ("serve (faas_trio/core/rpc.py)", 40) in inclusive
    assert all("zmq" not in name for name, _ in inclusive)


def test_cpu_per_item_divides_each_role_and_the_sum() -> None:
    before = {"frontend": 1.0, "worker": 2.0}
    after = {"frontend": 1.5, "worker": 3.0, "jqmanager": 0.5}
    figures = cpu_per_item_ms(before, after, 1000)
    assert figures == {"frontend": 0.5, "jqmanager": 0.5, "worker": 1.0, "all": 2.0}
    assert cpu_per_item_ms(before, after, 0) == {}


def test_a_process_without_components_has_only_its_own_time() -> None:
    assert set(component_cpu_seconds(os.getpid())) <= {"supervisor"}
