"""``GET /metrics``: Prometheus text of this frontend's HTTP counts and jqmanager's job counters.

HTTP requests are counted here, by route pattern (``/u/<user>/fn/<fn>/run``, not the raw
path, so the label set stays small) and status. Job metrics are jqmanager's (it sees every
finish, so a job is counted once whichever frontend is scraped); each scrape asks it for a
snapshot and renders it with a custom collector. When jqmanager does not answer, the job
metrics are left out and ``faas_jqmanager_up`` is 0.

Store metrics are the dbmanager's (``faas_store_commands_total{op}``: commands sent to the
database, each a round trip, by store operation; ``faas_store_roundtrip_seconds``), left out
when it does not answer.

``faas_scaler_desired_workers`` is the scaler's last decision, which the scaler reports to
jqmanager with its stats requests (it serves nothing itself); it is left out when no scaler
reported recently.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.errors import FaasError
from ..core.messages import GetMetrics, GetStoreMetrics, Metrics, StoreMetrics
from ..core.records import Histogram
from .auth import Auth
from .peers import Peers

__all__ = ["HttpCounts", "JobsCollector", "StoreCollector", "register"]


#: The labels of ``faas_worker_confinement``, in the order workers report them.
_CONFINEMENT_LABELS = ("mode", "landlock_abi", "seccomp", "cgroup")


class HttpCounts:
    """``faas_http_requests_total{route,code}`` of one app (not in the global registry)."""

    def __init__(self) -> None:
        self.counter = Counter(
            "faas_http_requests",
            "HTTP requests answered by this frontend, by route pattern and status.",
            ["route", "code"],
            registry=None,
        )
        #: Each (route, status)'s child, bound once: ``labels()`` takes a lock and checks
        #: its arguments on every call. Routes and statuses are few (patterns, not paths).
        self._children: dict[tuple[str, int], Counter] = {}

    def count(self, route: str, code: int) -> None:
        child = self._children.get((route, code))
        if child is None:
            child = self._children[(route, code)] = self.counter.labels(
                route=route, code=str(code)
            )
        child.inc()


def _histogram(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    buckets = [
        (repr(float(bound)), float(count))
        for bound, count in zip(hist.bounds, hist.counts, strict=True)
    ]
    buckets.append(("+Inf", float(hist.count)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=hist.sum)


class JobsCollector(Collector):
    """Renders one jqmanager :class:`~faas_trio.core.messages.Metrics` snapshot (or, with
    None, only ``faas_jqmanager_up 0``)."""

    def __init__(self, snapshot: Metrics | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("faas_jqmanager_up", "Whether jqmanager answered this scrape.")
        up.add_metric([], 0.0 if self.snapshot is None else 1.0)
        yield up
        m = self.snapshot
        if m is None:
            return
        jobs = CounterMetricFamily(
            "faas_jobs", "Jobs that reached a final state, by state.", labels=["state"]
        )
        for state, count in sorted(m.jobs_total.items()):
            jobs.add_metric([state], float(count))
        yield jobs
        yield _histogram("faas_job_duration_seconds", "How long finished jobs ran.", m.job_duration)
        yield _histogram(
            "faas_queue_wait_seconds",
            "How long finished jobs waited from submission to their start.",
            m.queue_wait,
        )
        yield GaugeMetricFamily("faas_queue_length", "Jobs waiting for a worker.", m.queued)
        yield GaugeMetricFamily("faas_jobs_running", "Jobs running on workers.", m.running)
        yield GaugeMetricFamily("faas_workers", "Workers alive.", m.workers)
        confined = GaugeMetricFamily(
            "faas_worker_confinement",
            "Workers alive by the confinement their sandboxes get (mode root, rootless or off;"
            " Landlock ABI; seccomp; cgroup version or none).",
            labels=list(_CONFINEMENT_LABELS),
        )
        for described, count in sorted(m.confinement.items()):
            pairs = dict(pair.partition("=")[::2] for pair in described.split(",") if pair)
            confined.add_metric([pairs.get(name, "") for name in _CONFINEMENT_LABELS], count)
        yield confined
        if m.desired_workers is not None:
            yield GaugeMetricFamily(
                "faas_scaler_desired_workers",
                "The worker count the scaler last decided.",
                m.desired_workers,
            )
        yield CounterMetricFamily(
            "faas_cold_starts", "Jobs that needed a new sandbox.", m.cold_starts_total
        )


class StoreCollector(Collector):
    """Renders one dbmanager :class:`~faas_trio.core.messages.StoreMetrics` snapshot (nothing
    with None)."""

    def __init__(self, snapshot: StoreMetrics | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        m = self.snapshot
        if m is None:
            return
        commands = CounterMetricFamily(
            "faas_store_commands",
            "Commands the dbmanager sent to its database (each a round trip), by store "
            "operation (write: batches of writes).",
            labels=["op"],
        )
        for op, count in sorted(m.commands_total.items()):
            commands.add_metric([op], float(count))
        yield commands
        yield _histogram(
            "faas_store_roundtrip_seconds",
            "How long each database command took, from send to answer.",
            m.roundtrip,
        )


def register(app: QuartTrio, peers: Peers, auth: Auth) -> None:
    """Count every answer of ``app`` and add ``GET /metrics`` (the admin key in keys mode)."""
    http = HttpCounts()

    @app.after_request
    async def count_request(response: TrioResponse) -> TrioResponse:
        rule = request.url_rule
        http.count(rule.rule if rule is not None else "unmatched", response.status_code)
        return response

    @app.get("/metrics")
    async def metrics() -> TrioResponse:
        """Prometheus text exposition.

        Cancellation: blocks on jqmanager, then dbmanager, each up to the RPC deadline;
        nothing changes.
        """
        await auth.require_admin()
        snapshot: Metrics | None
        try:
            snapshot = await peers.ask_jq(GetMetrics())
        except FaasError:
            snapshot = None
        store: StoreMetrics | None
        try:
            store = await peers.ask_db(GetStoreMetrics())
        except FaasError:
            store = None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(http.counter)
        registry.register(JobsCollector(snapshot))
        registry.register(StoreCollector(store))
        return TrioResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
