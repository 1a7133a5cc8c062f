"""Job counters for ``/metrics``: kept here because the jqmanager sees every job finish.

Each frontend asks for a snapshot (``GetMetrics``) and renders it, so a job is counted once
however many frontends there are. Counters start at zero when the jqmanager starts, which
Prometheus treats as a counter reset.

The scaler serves nothing, so it reports its last decision with each ``GetStats``; the
latest report is passed on in the snapshot until three of the scaler's intervals went by
without a new one.
"""

from __future__ import annotations

import bisect

from ..core.messages import GetStats, Metrics, Stats
from ..core.records import Histogram, JobRecord

__all__ = [
    "DEFAULT_SCALER_INTERVAL",
    "DURATION_BUCKETS",
    "SCALER_MISSED_REPORTS",
    "HistogramCounts",
    "JobMetrics",
]

#: Upper bounds (seconds) of the duration and queue-wait buckets: from a warm call of a few
#: milliseconds to the longest timeout a function may have.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip

#: The interval assumed for a scaler report that does not say its own (the scaler's default).
DEFAULT_SCALER_INTERVAL = 2.0
#: A scaler report is dropped after this many of its intervals without a new one.
SCALER_MISSED_REPORTS = 3


class HistogramCounts:
    """Observations counted into fixed buckets."""

    def __init__(self, bounds: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.bounds = bounds
        #: Per bucket, not cumulative; the last one is past every bound (+Inf).
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self._sum += value

    def snapshot(self) -> Histogram:
        """The counts so far, cumulative as Prometheus wants them."""
        cumulative: list[int] = []
        running = 0
        for count in self._counts[:-1]:
            running += count
            cumulative.append(running)
        return Histogram(
            bounds=list(self.bounds),
            counts=cumulative,
            count=running + self._counts[-1],
            sum=self._sum,
        )


class JobMetrics:
    """Counts of finished jobs by state, their durations, queue waits and cold starts."""

    def __init__(self) -> None:
        self.jobs_total: dict[str, int] = {}
        self.cold_starts_total = 0
        self.job_duration = HistogramCounts()
        self.queue_wait = HistogramCounts()
        self._desired_workers: int | None = None
        self._desired_until = float("-inf")

    def observe_final(self, record: JobRecord) -> None:
        """Count a job that reached its final state (call once per job)."""
        state = record.state.value
        self.jobs_total[state] = self.jobs_total.get(state, 0) + 1
        if record.cold_start:
            self.cold_starts_total += 1
        if record.duration_ms is not None:
            self.job_duration.observe(record.duration_ms / 1000.0)
        if record.started_at is not None and record.created_at > 0:
            self.queue_wait.observe(record.started_at - record.created_at)

    def observe_scaler(self, request: GetStats, now: float) -> None:
        """Keep the desired worker count a scaler reported at ``now`` (a ``GetStats`` that
        carries none changes nothing)."""
        if request.desired_workers is None:
            return
        interval = request.interval
        if interval is None or interval <= 0:
            interval = DEFAULT_SCALER_INTERVAL
        self._desired_workers = request.desired_workers
        self._desired_until = now + SCALER_MISSED_REPORTS * interval

    def desired_workers(self, now: float) -> int | None:
        """The scaler's last reported decision, or None when none is recent at ``now``."""
        return self._desired_workers if now <= self._desired_until else None

    def snapshot(
        self, stats: Stats, *, now: float, confinement: dict[str, int] | None = None
    ) -> Metrics:
        """The counters, with the current queue, running and worker gauges from ``stats``,
        the scaler's decision if it reported recently at ``now``, and the workers by
        ``confinement``."""
        return Metrics(
            jobs_total=dict(self.jobs_total),
            job_duration=self.job_duration.snapshot(),
            queue_wait=self.queue_wait.snapshot(),
            queued=stats.queued,
            running=stats.running,
            workers=stats.workers,
            cold_starts_total=self.cold_starts_total,
            desired_workers=self.desired_workers(now),
            confinement=dict(confinement or {}),
        )
