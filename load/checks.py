"""The performance targets, checked against a run's results.

A target is met, not met, or not measured (its scenario did not run or measured nothing).
A latency or throughput target also counts as not met when more than ``MAX_ERROR_RATE`` of
its requests failed: fast failures must not pass for fast calls.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    bound: str,
    limit: float,
    value: float | None,
    unit: str,
    sample: Sample | None = None,
    *,
    shown: str | None = None,
) -> Check:
    """The target ``value bound limit`` (``bound``: ``<=`` or ``>=``), shown as ``shown`` or
    as the bound with its unit; not met either when over :data:`MAX_ERROR_RATE` of
    ``sample`` failed."""
    target = shown or f"{bound} {limit:g} {unit}".strip()
    if value is None:
        return Check(name, target, "not measured", None)
    measured = f"{value:,.2f} {unit}".strip()
    met = value <= limit if bound == "<=" else value >= limit
    if sample is not None and sample.total:
        rate = sample.errors / sample.total
        if rate > MAX_ERROR_RATE:
            measured += f" ({rate:.1%} errors)"
            met = False
    return Check(name, target, measured, met)


def _figure_check(
    results: Mapping[str, ScenarioResult],
    name: str,
    bound: str,
    limit: float,
    unit: str,
    scenario: str,
    figure: str,
    sample: str | None = None,
    *,
    shown: str | None = None,
) -> Check:
    """:func:`_check` of the ``figure`` of ``scenario``, with the errors of its ``sample``."""
    counted = _sample(results, scenario, sample) if sample is not None else None
    value = _figure(results, scenario, figure)
    return _check(name, bound, limit, value, unit, counted, shown=shown)


def _p50(sample: Sample | None) -> float | None:
    return sample.summary().p50_ms if sample else None


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
    return [
        _check("warm sync c1 p50", "<=", 2, c1_p50, "ms", c1),
        _check("warm sync c1 p99", "<=", 10, c1_p99, "ms", c1),
        _check(
            "warm sync c16 throughput",
            ">=",
            25,
            _percent(ratios(results)["warm sync c16 / baseline c16"]),
            "%",
            c16,
            shown=">= 25% of baseline c16",
        ),
        _check("cold python p50", "<=", 20, _p50(cold_py), "ms", cold_py),
        _check("cold node p50", "<=", 80, _p50(cold_js), "ms", cold_js),
        _figure_check(
            results,
            "async burst end to end",
            ">=",
            1000,
            "jobs/s",
            "async_burst",
            "e2e jobs/s",
            "end to end",
        ),
        _figure_check(
            results,
            "MongoDB +1 ms: store write round trips per job",
            "<=",
            2,
            "",
            "store_burst",
            "mongo +1 ms, 4 workers: write round trips/job",
            "mongo +1 ms, 4 workers: end to end",
        ),
        *(
            _figure_check(
                results,
                f"MongoDB burst, {workers}",
                ">=",
                floor,
                "jobs/s",
                "store_burst",
                f"mongo, {workers}: e2e jobs/s",
                f"mongo, {workers}: end to end",
            )
            for workers, floor in (
                ("1 worker", 65),
                ("4 workers", 140),
                ("1 worker of 1 slot", 33),
            )
        ),
        _figure_check(
            results,
            "jqmanager memory per queued job",
            "<=",
            1024,
            "B",
            "deep_queue",
            "jqmanager bytes per queued job",
            shown="<= 1 KB (1024 B)",
        ),
        _figure_check(
            results,
            "enqueue p50 at depth vs empty",
            "<=",
            2,
            "x",
            "deep_queue",
            "enqueue p50 last/first",
            "enqueue",
            shown="<= 2x",
        ),
        *_map_checks(results),
    ]


def _map_checks(results: Mapping[str, ScenarioResult]) -> list[Check]:
    """The map targets: throughput end to end, memory per queued item, fairness."""
    return [
        *(
            _figure_check(
                results,
                f"map 10k items end to end ({runtime})",
                ">=",
                5000,
                "items/s",
                f"map_10k_{runtime}",
                "items/s",
                "items",
            )
            for runtime in ("python", "node")
        ),
        _figure_check(
            results,
            "jqmanager memory per queued map item",
            "<=",
            1024,
            "B",
            "map_100k",
            "jqmanager bytes per queued item",
            shown="<= 1 KB (1024 B)",
        ),
        _figure_check(
            results,
            "single call p99 behind a big map vs idle",
            "<=",
            3,
            "x",
            "map_mixed",
            "p99 behind map / idle",
            "behind a map",
            shown="<= 3x",
        ),
    ]


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100
