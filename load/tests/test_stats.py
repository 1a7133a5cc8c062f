from __future__ import annotations

import pytest

from load.stats import percentile, summarize


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([3.0, 1.0, 2.0], 50) == 2


def test_percentile_of_nothing_is_none_and_range_is_checked() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_counts_errors_and_throughput_of_successes() -> None:
    summary = summarize("x", [1.0, 2.0, 3.0, 4.0], errors=1, elapsed_s=2.0)
    assert summary.requests == 5
    assert summary.throughput == 2.0
    assert summary.p50_ms == 2.0
    assert summary.max_ms == 4.0
    empty = summarize("y", [], errors=3, elapsed_s=0.0)
    assert empty.throughput == 0.0 and empty.p99_ms is None
