"""The performance targets, checked against a run's results.

A target is met, not met, or not measured (its scenario did not run or measured nothing).
A latency or throughput target also counts as not met when more than ``MAX_ERROR_RATE`` of
its requests failed: fast failures must not pass for fast calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .generator import Sample
from .scenarios import ScenarioResult

__all__ = ["MAX_ERROR_RATE", "Check", "evaluate", "ratios"]

MAX_ERROR_RATE = 0.01


@dataclass(frozen=True)
class Check:
    """One target: what it asks, what was measured, and whether it holds (None: not measured)."""

    name: str
    target: str
    measured: str
    met: bool | None


def _sample(results: Mapping[str, ScenarioResult], scenario: str, label: str) -> Sample | None:
    result = results.get(scenario)
    return result.sample(label) if result is not None else None


def _figure(results: Mapping[str, ScenarioResult], scenario: str, name: str) -> float | None:
    result = results.get(scenario)
    value = result.figures.get(name) if result is not None else None
    return float(value) if isinstance(value, int | float) else None


def _check(
    name: str,
    target: str,
    value: float | None,
    passes: Callable[[float], bool],
    unit: str,
    sample: Sample | None = None,
) -> Check:
    if value is None:
        return Check(name, target, "not measured", None)
    measured = f"{value:,.2f} {unit}".strip()
    met = passes(value)
    if sample is not None and sample.total:
        rate = sample.errors / sample.total
        if rate > MAX_ERROR_RATE:
            measured += f" ({rate:.1%} errors)"
            met = False
    return Check(name, target, measured, met)


def ratios(results: Mapping[str, ScenarioResult]) -> dict[str, float | None]:
    """Warm sync throughput as a fraction of the baseline's, at concurrency 1 and 16."""
    out: dict[str, float | None] = {}
    for level in ("c1", "c16"):
        base = _figure(results, "baseline", f"throughput_{level}")
        warm = _figure(results, f"warm_sync_{level}", "throughput")
        out[f"warm sync {level} / baseline {level}"] = warm / base if base and warm else None
    return out


def evaluate(results: Mapping[str, ScenarioResult]) -> list[Check]:
    """Every target, in the order the issue lists them."""
    c1 = _sample(results, "warm_sync_c1", "c1")
    c1_summary = c1.summary() if c1 is not None else None
    c1_p50 = c1_summary.p50_ms if c1_summary is not None else None
    c1_p99 = c1_summary.p99_ms if c1_summary is not None else None
    c16 = _sample(results, "warm_sync_c16", "c16")
    cold_py = _sample(results, "cold_python", "first call")
    cold_js = _sample(results, "cold_node", "first call")
    burst = _sample(results, "async_burst", "end to end")
    return [
        _check("warm sync c1 p50", "<= 2 ms", c1_p50, lambda v: v <= 2, "ms", c1),
        _check("warm sync c1 p99", "<= 10 ms", c1_p99, lambda v: v <= 10, "ms", c1),
        _check(
            "warm sync c16 throughput",
            ">= 25% of baseline c16",
            _percent(ratios(results)["warm sync c16 / baseline c16"]),
            lambda v: v >= 25,
            "%",
            c16,
        ),
        _check(
            "cold python p50",
            "<= 20 ms",
            cold_py.summary().p50_ms if cold_py else None,
            lambda v: v <= 20,
            "ms",
            cold_py,
        ),
        _check(
            "cold node p50",
            "<= 80 ms",
            cold_js.summary().p50_ms if cold_js else None,
            lambda v: v <= 80,
            "ms",
            cold_js,
        ),
        _check(
            "async burst end to end",
            ">= 1000 jobs/s",
            _figure(results, "async_burst", "e2e jobs/s"),
            lambda v: v >= 1000,
            "jobs/s",
            burst,
        ),
        _check(
            "MongoDB +1 ms: store write round trips per job",
            "<= 2",
            _figure(results, "store_burst", "mongo +1 ms, 4 workers: write round trips/job"),
            lambda v: v <= 2,
            "",
            _sample(results, "store_burst", "mongo +1 ms, 4 workers: end to end"),
        ),
        _check(
            "MongoDB burst, 1 worker",
            ">= 65 jobs/s",
            _figure(results, "store_burst", "mongo, 1 worker: e2e jobs/s"),
            lambda v: v >= 65,
            "jobs/s",
            _sample(results, "store_burst", "mongo, 1 worker: end to end"),
        ),
        _check(
            "MongoDB burst, 4 workers",
            ">= 140 jobs/s",
            _figure(results, "store_burst", "mongo, 4 workers: e2e jobs/s"),
            lambda v: v >= 140,
            "jobs/s",
            _sample(results, "store_burst", "mongo, 4 workers: end to end"),
        ),
        _check(
            "MongoDB burst, 1 worker of 1 slot",
            ">= 33 jobs/s",
            _figure(results, "store_burst", "mongo, 1 worker of 1 slot: e2e jobs/s"),
            lambda v: v >= 33,
            "jobs/s",
            _sample(results, "store_burst", "mongo, 1 worker of 1 slot: end to end"),
        ),
        _check(
            "jqmanager memory per queued job",
            "<= 1 KB (1024 B)",
            _figure(results, "deep_queue", "jqmanager bytes per queued job"),
            lambda v: v <= 1024,
            "B",
        ),
        _check(
            "enqueue p50 at depth vs empty",
            "<= 2x",
            _figure(results, "deep_queue", "enqueue p50 last/first"),
            lambda v: v <= 2,
            "x",
            _sample(results, "deep_queue", "enqueue"),
        ),
        *_map_checks(results),
    ]


def _map_checks(results: Mapping[str, ScenarioResult]) -> list[Check]:
    """The map targets: throughput end to end, memory per queued item, fairness."""
    return [
        _check(
            f"map 10k items end to end ({runtime})",
            ">= 5000 items/s",
            _figure(results, f"map_10k_{runtime}", "items/s"),
            lambda v: v >= 5000,
            "items/s",
            _sample(results, f"map_10k_{runtime}", "items"),
        )
        for runtime in ("python", "node")
    ] + [
        _check(
            "jqmanager memory per queued map item",
            "<= 1 KB (1024 B)",
            _figure(results, "map_100k", "jqmanager bytes per queued item"),
            lambda v: v <= 1024,
            "B",
        ),
        _check(
            "single call p99 behind a big map vs idle",
            "<= 3x",
            _figure(results, "map_mixed", "p99 behind map / idle"),
            lambda v: v <= 3,
            "x",
            _sample(results, "map_mixed", "behind a map"),
        ),
    ]


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100
