"""Sampling the platform's ``GET /metrics`` for the queue length and the worker count.

The route may not exist (404: sampling stops quietly) and its format is read loosely: the
Prometheus text format (``name{labels} value`` lines) or JSON (nested objects of numbers,
flattened to dotted names). The queue length and worker count are taken from the first name
in :data:`QUEUE_NAMES` / :data:`WORKER_NAMES` present, else from the first name that looks
like one (labels are summed over).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

__all__ = [
    "MetricsSeries",
    "parse_metrics",
    "pick",
    "queue_length",
    "sample_metrics",
    "worker_count",
]

QUEUE_NAMES = ("faas_queue_length", "faas_queued_jobs", "faas_jobs_queued", "queue_length")
WORKER_NAMES = ("faas_workers", "faas_worker_count", "faas_workers_ready", "workers")


def _flatten(value: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)


def parse_metrics(text: str) -> dict[str, float]:
    """Every numeric metric in ``text`` by name (labels dropped, values of one name summed)."""
    out: dict[str, float] = {}
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            body = json.loads(stripped)
        except ValueError:
            return out
        # The platform may wrap its metrics in the envelope.
        if isinstance(body, dict) and "res" in body and isinstance(body["res"], dict):
            body = body["res"]
        _flatten(body, "", out)
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name_part, _, rest = line.partition(" ") if "}" not in line else line.partition("}")
        name = name_part.split("{", 1)[0].strip()
        fields = rest.split()
        if not name or not fields:
            continue
        try:
            out[name] = out.get(name, 0.0) + float(fields[0])
        except ValueError:
            continue
    return out


def _looks_like_queue(name: str) -> bool:
    return "queue" in name and any(w in name for w in ("length", "depth", "size", "len"))


def _looks_like_workers(name: str) -> bool:
    return "worker" in name and not any(
        w in name for w in ("busy", "job", "second", "total", "restart", "bytes")
    )


def pick(
    metrics: dict[str, float], names: tuple[str, ...], looks_like: Callable[[str], bool]
) -> float | None:
    """The first of ``names`` in ``metrics``, else the first metric (by name) whose lower-cased
    name ``looks_like`` says is the one; None when nothing matches."""
    for name in names:
        if name in metrics:
            return metrics[name]
    for name in sorted(metrics):
        if looks_like(name.lower()):
            return metrics[name]
    return None


def queue_length(metrics: dict[str, float]) -> float | None:
    """The queue length in parsed ``metrics``, or None."""
    return pick(metrics, QUEUE_NAMES, _looks_like_queue)


def worker_count(metrics: dict[str, float]) -> float | None:
    """The worker count in parsed ``metrics``, or None."""
    return pick(metrics, WORKER_NAMES, _looks_like_workers)


@dataclass
class MetricsSeries:
    """Samples over time: seconds since sampling started, queue length, worker count."""

    available: bool = True
    times: list[float] = field(default_factory=list)
    queue_length: list[float | None] = field(default_factory=list)
    workers: list[float | None] = field(default_factory=list)


async def sample_metrics(
    client: httpx.AsyncClient, series: MetricsSeries, interval: float = 0.5
) -> None:
    """Append a sample to ``series`` every ``interval`` s until cancelled; on a 404 mark the
    series unavailable and return. A failed sample is skipped.

    Cancellation: the normal way it ends; ``series`` keeps what was sampled.
    """
    started = time.perf_counter()
    while True:
        try:
            response = await client.get("/metrics", timeout=max(interval * 4, 2.0))
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 404:
            series.available = False
            return
        if response is not None and response.is_success:
            metrics = parse_metrics(response.text)
            series.times.append(time.perf_counter() - started)
            series.queue_length.append(queue_length(metrics))
            series.workers.append(worker_count(metrics))
        await trio.sleep(interval)
