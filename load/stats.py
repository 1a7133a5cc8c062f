"""Latency summaries: percentiles and the figures a report row shows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Summary", "percentile", "summarize"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest-rank method, or None when
    ``values`` is empty. Nearest rank always answers a value that was measured."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """One table row: counts, throughput (successful requests per second of wall time) and
    latency percentiles in ms (None when nothing succeeded)."""

    label: str
    requests: int
    errors: int
    elapsed_s: float
    throughput: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def summarize(label: str, latencies_ms: Sequence[float], errors: int, elapsed_s: float) -> Summary:
    """The row for ``latencies_ms`` (one per successful request) plus ``errors`` failed ones,
    measured over ``elapsed_s`` seconds."""
    ok = len(latencies_ms)
    return Summary(
        label=label,
        requests=ok + errors,
        errors=errors,
        elapsed_s=elapsed_s,
        throughput=ok / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=percentile(latencies_ms, 50),
        p90_ms=percentile(latencies_ms, 90),
        p99_ms=percentile(latencies_ms, 99),
        max_ms=max(latencies_ms) if latencies_ms else None,
    )
