"""The jqmanager's job counters: states, histograms, cold starts, the scaler's decision."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from faas_trio.core.messages import GetMetrics, GetStats, Metrics, Stats
from faas_trio.core.records import JobRecord, JobState, Runtime
from faas_trio.jqmanager.handlers import handle
from faas_trio.jqmanager.metrics import DEFAULT_SCALER_INTERVAL, HistogramCounts, JobMetrics

from .test_manager import fake_with_function, open_manager


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
    snap = metrics.snapshot(Stats(queued=4, running=2, workers=3, slots=12), now=0.0)
    assert snap.jobs_total == {"succeeded": 2, "cancelled": 1}
    assert snap.cold_starts_total == 1
    assert snap.job_duration.count == 2 and snap.job_duration.sum == 3.02
    assert snap.queue_wait.count == 1 and snap.queue_wait.sum == 0.5
    assert (snap.queued, snap.running, snap.workers) == (4, 2, 3)
    assert snap.desired_workers is None  # no scaler reported


STATS = Stats(queued=0, running=0, workers=1, slots=4)


def test_the_scalers_latest_decision_is_kept_for_three_intervals() -> None:
    metrics = JobMetrics()
    metrics.observe_scaler(GetStats(desired_workers=3, interval=0.5), now=10.0)
    metrics.observe_scaler(GetStats(desired_workers=5, interval=0.5), now=10.5)
    assert metrics.snapshot(STATS, now=10.5).desired_workers == 5
    assert metrics.snapshot(STATS, now=12.0).desired_workers == 5
    assert metrics.snapshot(STATS, now=12.01).desired_workers is None


def test_a_stats_request_without_a_decision_changes_nothing() -> None:
    metrics = JobMetrics()
    metrics.observe_scaler(GetStats(), now=0.0)
    assert metrics.desired_workers(0.0) is None
    metrics.observe_scaler(GetStats(desired_workers=2, interval=1.0), now=0.0)
    metrics.observe_scaler(GetStats(), now=1.0)
    assert metrics.desired_workers(2.0) == 2


def test_a_report_without_an_interval_lasts_three_default_intervals() -> None:
    metrics = JobMetrics()
    metrics.observe_scaler(GetStats(desired_workers=4), now=0.0)
    assert metrics.desired_workers(3 * DEFAULT_SCALER_INTERVAL) == 4
    assert metrics.desired_workers(3 * DEFAULT_SCALER_INTERVAL + 0.01) is None


async def test_the_server_passes_the_scalers_report_to_metrics(autojump_clock: MockClock) -> None:
    async with open_manager(fake_with_function()) as manager:

        async def desired() -> int | None:
            reply = await handle(manager, GetMetrics())
            assert isinstance(reply, Metrics)
            return reply.desired_workers

        assert await desired() is None
        assert isinstance(await handle(manager, GetStats(desired_workers=3, interval=1.0)), Stats)
        assert await desired() == 3
        await trio.sleep(2.5)
        assert await desired() == 3
        await trio.sleep(1.0)  # three intervals without a report
        assert await desired() is None
