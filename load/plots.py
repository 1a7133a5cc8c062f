"""PNG plots of a run: latency CDFs, throughput over time, queue and workers over time, and any
extra series a scenario recorded. Needs matplotlib (the ``load`` extra); without it no plot is
drawn and the report says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .scenarios import ScenarioResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_result", "plots_available"]


def plots_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure() -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(7, 4), layout="constrained")


def _save(figure: Figure, out: Path, name: str) -> str:
    figure.savefig(out / name, dpi=100)
    return name


def _rate_over_time(offsets: list[float]) -> tuple[list[float], list[float]]:
    """Completions per second in bins of 1 s (0.25 s for phases under 10 s)."""
    if not offsets:
        return [], []
    end = max(offsets)
    width = 0.25 if end < 10 else 1.0
    counts = [0] * (int(end / width) + 1)
    for offset in offsets:
        counts[int(max(offset, 0.0) / width)] += 1
    return [i * width for i in range(len(counts))], [c / width for c in counts]


def plot_result(result: ScenarioResult, out: Path) -> list[tuple[str, str]]:
    """Draw ``result``'s plots into ``out``; answers ``(title, file name)`` of each."""
    drawn: list[tuple[str, str]] = []
    samples = [s for s in result.samples if s.latencies_ms]
    if samples:
        figure = _figure()
        axes = figure.add_subplot()
        for sample in samples:
            ordered = sorted(sample.latencies_ms)
            n = len(ordered)
            axes.plot(ordered, [(i + 1) / n for i in range(n)], label=sample.label)
        axes.set_xscale("log")
        axes.set_xlabel("latency (ms, log scale)")
        axes.set_ylabel("fraction of requests")
        axes.set_title(f"{result.name}: latency CDF")
        axes.grid(True, alpha=0.3)
        axes.legend()
        drawn.append(("latency CDF", _save(figure, out, f"{result.name}_latency_cdf.png")))
    timed = [s for s in result.samples if s.finish_offsets]
    if timed:
        figure = _figure()
        axes = figure.add_subplot()
        for sample in timed:
            xs, ys = _rate_over_time(sample.finish_offsets)
            axes.plot(xs, ys, label=sample.label)
        axes.set_xlabel("time since the phase started (s)")
        axes.set_ylabel("completed per second")
        axes.set_title(f"{result.name}: throughput over time")
        axes.grid(True, alpha=0.3)
        axes.legend()
        drawn.append(("throughput over time", _save(figure, out, f"{result.name}_throughput.png")))
    series = result.metrics
    if series is not None and series.available and series.times:
        figure = _figure()
        axes = figure.add_subplot()
        queue = [float("nan") if v is None else v for v in series.queue_length]
        workers = [float("nan") if v is None else v for v in series.workers]
        axes.plot(series.times, queue, label="queue length", color="tab:blue")
        axes.set_xlabel("time (s)")
        axes.set_ylabel("queue length")
        right = axes.twinx()
        right.plot(series.times, workers, label="workers", color="tab:orange")
        right.set_ylabel("workers")
        axes.set_title(f"{result.name}: queue length and workers")
        lines = [*axes.get_lines(), *right.get_lines()]
        axes.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")
        drawn.append(("queue and workers", _save(figure, out, f"{result.name}_queue.png")))
    for index, (title, (xs, ys, x_label, y_label)) in enumerate(result.series.items()):
        if not xs:
            continue
        figure = _figure()
        axes = figure.add_subplot()
        axes.plot(xs, ys, marker=".")
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.set_title(f"{result.name}: {title}")
        axes.grid(True, alpha=0.3)
        drawn.append((title, _save(figure, out, f"{result.name}_series_{index}.png")))
    return drawn
