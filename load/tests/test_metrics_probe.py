from __future__ import annotations

import httpx
import trio

from load.metrics_probe import (
    MetricsSeries,
    parse_metrics,
    queue_length,
    sample_metrics,
    worker_count,
)

PROMETHEUS = """\
# HELP faas_queue_length jobs waiting
# TYPE faas_queue_length gauge
faas_queue_length 12
faas_workers{state="idle"} 2
faas_workers{state="busy"} 3
faas_jobs_total{state="succeeded"} 90
"""


def test_prometheus_text_is_parsed_and_labels_summed() -> None:
    metrics = parse_metrics(PROMETHEUS)
    assert metrics["faas_queue_length"] == 12
    assert metrics["faas_workers"] == 5
    assert queue_length(metrics) == 12
    assert worker_count(metrics) == 5


def test_json_in_the_envelope_is_flattened_and_names_guessed() -> None:
    metrics = parse_metrics('{"error": false, "res": {"queue": {"depth": 7}, "workers": 4}}')
    assert metrics == {"queue.depth": 7.0, "workers": 4.0}
    assert queue_length(metrics) == 7
    assert worker_count(metrics) == 4


def test_unknown_names_give_none() -> None:
    metrics = parse_metrics("faas_jobs_total 3\nworker_busy_seconds 2\n")
    assert queue_length(metrics) is None
    assert worker_count(metrics) is None


async def test_sampling_stops_on_404_and_records_otherwise(
    autojump_clock: trio.abc.Clock,
) -> None:
    missing = MetricsSeries()
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        with trio.fail_after(5):
            await sample_metrics(client, missing)
    assert not missing.available

    series = MetricsSeries()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=PROMETHEUS))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        with trio.move_on_after(2.25):
            await sample_metrics(client, series, interval=0.5)
    assert series.available
    assert len(series.times) == 5
    assert series.queue_length == [12] * 5 and series.workers == [5] * 5
