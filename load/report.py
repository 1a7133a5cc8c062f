"""Writing a run's report: ``report.md`` for people, ``report.json`` with the raw figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .checks import Check, evaluate, ratios
from .plots import plot_result, plots_available
from .scenarios import ScenarioResult
from .stats import Summary

__all__ = ["write_report"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _figure_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return "-" if value is None else str(value)


def _row(summary: Summary) -> str:
    return (
        f"| {summary.label} | {summary.requests:,} | {summary.errors:,} | "
        f"{summary.throughput:,.1f} | {_ms(summary.p50_ms)} | {_ms(summary.p90_ms)} | "
        f"{_ms(summary.p99_ms)} | {_ms(summary.max_ms)} |"
    )


def _met(check: Check) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[check.met]


def _scenario_section(result: ScenarioResult, plots: Sequence[tuple[str, str]]) -> list[str]:
    lines = [f"## {result.name}", "", result.description, ""]
    if result.failure:
        lines += [f"**Did not finish:** {result.failure}", ""]
    if result.samples:
        lines += [
            "| phase | requests | errors | throughput (/s) | p50 (ms) | p90 (ms) "
            "| p99 (ms) | max (ms) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [_row(sample.summary()) for sample in result.samples]
        lines.append("")
    kinds = {s.label: dict(s.error_kinds) for s in result.samples if s.error_kinds}
    if kinds:
        lines += [f"Errors by kind: `{json.dumps(kinds)}`", ""]
    stopped = [s.label for s in result.samples if s.timed_out]
    if stopped:
        lines += [f"Stopped by the time limit before the full count: {', '.join(stopped)}", ""]
    if result.figures:
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {name} | {_figure_text(v)} |" for name, v in result.figures.items()]
        lines.append("")
    lines += [f"- {note}" for note in result.notes]
    if result.notes:
        lines.append("")
    lines += [f"![{result.name} {title}]({name})" for title, name in plots]
    if plots:
        lines.append("")
    return lines


def _json_result(result: ScenarioResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "description": result.description,
        "failure": result.failure,
        "figures": result.figures,
        "notes": result.notes,
        "samples": [
            {
                **asdict(sample.summary()),
                "total": sample.total,
                "concurrency": sample.concurrency,
                "timed_out": sample.timed_out,
                "error_kinds": dict(sample.error_kinds),
                "latencies_ms": [round(v, 3) for v in sample.latencies_ms],
                "finish_offsets_s": [round(v, 4) for v in sample.finish_offsets],
            }
            for sample in result.samples
        ],
        "metrics": asdict(result.metrics) if result.metrics is not None else None,
        "series": {
            name: {"x": xs, "y": ys, "x_label": xl, "y_label": yl}
            for name, (xs, ys, xl, yl) in result.series.items()
        },
    }


def write_report(
    out: Path,
    results: Mapping[str, ScenarioResult],
    machine: Mapping[str, str],
    run_info: Mapping[str, Any],
) -> Path:
    """Write ``report.md``, ``report.json`` and the plots into ``out``; answers the report path."""
    out.mkdir(parents=True, exist_ok=True)
    checks = evaluate(results)
    ratio_figures = ratios(results)
    can_plot = plots_available()
    lines = ["# faas-trio load test", ""]
    lines += ["| run | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in run_info.items()]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "## Targets", "", "| target | wanted | measured | |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.target} | {c.measured} | {_met(c)} |" for c in checks]
    lines += ["", "## Ratios to the baseline", "", "| ratio | value |", "|---|---:|"]
    lines += [f"| {name} | {_figure_text(v)} |" for name, v in ratio_figures.items()]
    lines.append("")
    if not can_plot:
        lines += ["Plots skipped: matplotlib is not installed (`pip install .[load]`).", ""]
    for result in results.values():
        plots = plot_result(result, out) if can_plot else []
        lines += _scenario_section(result, plots)
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    (out / "report.json").write_text(
        json.dumps(
            {
                "run": dict(run_info),
                "machine": dict(machine),
                "checks": [asdict(c) for c in checks],
                "ratios": ratio_figures,
                "scenarios": [_json_result(r) for r in results.values()],
            },
            indent=1,
        )
        + "\n"
    )
    return report
