"""The jqmanager's job counters: states, histograms, cold starts."""

from __future__ import annotations

from faas_trio.core.messages import JobRecord, JobState, Runtime, Stats
from faas_trio.jqmanager.metrics import HistogramCounts, JobMetrics


def record(state: JobState, **fields: object) -> JobRecord:
    return JobRecord(
        id="0" * 24, user="ann", function="f", runtime=Runtime.PYTHON, args="[]", state=state,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_histogram_counts_are_cumulative_and_bounds_inclusive() -> None:
    hist = HistogramCounts(bounds=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0, -3.0):
        hist.observe(value)
    snap = hist.snapshot()
    assert snap.bounds == [0.1, 1.0]
    assert snap.counts == [3, 5]  # -3 counts as 0
    assert snap.count == 6
    assert snap.sum == 0.05 + 0.1 + 0.5 + 1.0 + 7.0


def test_job_metrics() -> None:
    metrics = JobMetrics()
    metrics.observe_final(
        record(
            JobState.SUCCEEDED,
            duration_ms=20.0,
            cold_start=True,
            created_at=100.0,
            started_at=100.5,
        )  # fmt: skip
    )
    metrics.observe_final(record(JobState.SUCCEEDED, duration_ms=3000.0, cold_start=False))
    metrics.observe_final(record(JobState.CANCELLED))
    snap = metrics.snapshot(Stats(queued=4, running=2, workers=3, slots=12))
    assert snap.jobs_total == {"succeeded": 2, "cancelled": 1}
    assert snap.cold_starts_total == 1
    assert snap.job_duration.count == 2 and snap.job_duration.sum == 3.02
    assert snap.queue_wait.count == 1 and snap.queue_wait.sum == 0.5
    assert (snap.queued, snap.running, snap.workers) == (4, 2, 3)
