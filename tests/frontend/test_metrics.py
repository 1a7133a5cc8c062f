"""GET /metrics: Prometheus text of HTTP counts and of jqmanager's job counters."""

from __future__ import annotations

import dataclasses

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from faas_trio.core.messages import GetStats, Heartbeat
from faas_trio.core.rpc import open_client
from faas_trio.frontend import create_app
from faas_trio.frontend.peers import Peers
from load.ports import unused_endpoint

from .neighbours import ADMIN_KEY, KEYS_CONFIG, AppClient, Neighbours, bearer, envelope_of


def _labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    # A bucket bound may be written "1" or "1.0"; compare them as numbers.
    if "le" in labels:
        labels = {**labels, "le": floatToGoString(float(labels["le"]))}
    return tuple(sorted(labels.items()))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, _labels(s.labels)): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client: AppClient) -> str:
    response = await client.get("/metrics", headers=bearer(ADMIN_KEY))
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return (await response.get_data()).decode()


async def run_jobs(client: AppClient, neighbours: Neighbours) -> None:
    """ann's jobs: one succeeded in 50 ms, one failed after 2 s (both as a cold start), one
    running and one queued."""
    admin = bearer(ADMIN_KEY)
    await client.post("/u/ann", headers=admin)
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n", headers=admin)
    jobs = []
    for _ in range(4):
        _, _, job_id = await envelope_of(
            await client.post("/u/ann/fn/add/run", data="[1,2]", headers=admin)
        )
        jobs.append(job_id)
    await neighbours.finish(jobs[0], 3, duration_ms=50.0, cold_start=True)
    await neighbours.finish(jobs[1], error="ValueError: no", duration_ms=2000.0, cold_start=True)
    assert (await neighbours.take()).job.id == jobs[2]


async def test_job_metrics_come_from_jqmanager(
    keys_client: AppClient, neighbours: Neighbours
) -> None:
    await run_jobs(keys_client, neighbours)
    got = samples(await scrape(keys_client))
    assert got[("faas_jqmanager_up", ())] == 1
    assert got[("faas_jobs_total", (("state", "succeeded"),))] == 1
    assert got[("faas_jobs_total", (("state", "failed"),))] == 1
    assert got[("faas_job_duration_seconds_bucket", (("le", "0.05"),))] == 1
    assert got[("faas_job_duration_seconds_bucket", (("le", "1.0"),))] == 1
    assert got[("faas_job_duration_seconds_bucket", (("le", "2.5"),))] == 2
    assert got[("faas_job_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    assert got[("faas_job_duration_seconds_count", ())] == 2
    assert got[("faas_job_duration_seconds_sum", ())] == 2.05
    assert got[("faas_queue_wait_seconds_count", ())] == 2
    assert got[("faas_queue_length", ())] == 1
    assert got[("faas_jobs_running", ())] == 1
    assert got[("faas_workers", ())] == 1
    assert got[("faas_cold_starts_total", ())] == 2
    # No scaler reported to jqmanager: its decision is left out, not shown as 0.
    assert not any(name == "faas_scaler_desired_workers" for name, _ in got)


async def test_the_scalers_decision_is_exported_when_jqmanager_has_it(
    keys_client: AppClient, neighbours: Neighbours
) -> None:
    assert neighbours.jq is not None
    await neighbours.jq.call(GetStats(desired_workers=3, interval=60.0))
    got = samples(await scrape(keys_client))
    assert got[("faas_scaler_desired_workers", ())] == 3
    assert got[("faas_workers", ())] == 0


async def test_workers_are_counted_by_their_confinement(
    keys_client: AppClient, neighbours: Neighbours
) -> None:
    assert neighbours.jq is not None
    root = "mode=root,landlock_abi=7,seccomp=1,cgroup=v1"
    for worker, confinement in (("w1", root), ("w2", root), ("w3", "mode=off")):
        heartbeat = Heartbeat(worker, [], slots=1, wait=0.0, confinement=confinement)
        await neighbours.jq.call(heartbeat)
    got = samples(await scrape(keys_client))
    root_labels = (("cgroup", "v1"), ("landlock_abi", "7"), ("mode", "root"), ("seccomp", "1"))
    off = (("cgroup", ""), ("landlock_abi", ""), ("mode", "off"), ("seccomp", ""))
    assert got[("faas_worker_confinement", root_labels)] == 2
    assert got[("faas_worker_confinement", off)] == 1


async def test_http_requests_are_counted_by_route_pattern(keys_client: AppClient) -> None:
    await keys_client.post("/u/ann")
    await keys_client.post("/u/bob")
    await keys_client.get("/u/ann/fn")  # no key: 401
    await keys_client.get("/no/such/route")
    got = samples(await scrape(keys_client))
    assert got[("faas_http_requests_total", (("code", "200"), ("route", "/u/<user>")))] == 2
    assert got[("faas_http_requests_total", (("code", "401"), ("route", "/u/<user>/fn")))] == 1
    assert got[("faas_http_requests_total", (("code", "404"), ("route", "unmatched")))] == 1
    assert not any("ann" in str(labels) for _, labels in got)


async def test_jqmanager_down_leaves_job_metrics_out(neighbours: Neighbours) -> None:
    config = dataclasses.replace(KEYS_CONFIG, rpc_timeout=0.2)
    async with open_client(neighbours.db_url) as db, open_client(unused_endpoint()) as jq:
        client = create_app(config, Peers(db=db, jq=jq, rpc_timeout=0.2)).test_client()
        got = samples(await scrape(client))
    assert got[("faas_jqmanager_up", ())] == 0
    assert not any(name.startswith("faas_jobs") for name, _ in got)


async def test_store_metrics_come_from_dbmanager(keys_client: AppClient) -> None:
    admin = bearer(ADMIN_KEY)
    await keys_client.post("/u/ann", headers=admin)  # one write
    await keys_client.get("/u/ann/fn", headers=admin)  # a read of the user's functions
    got = samples(await scrape(keys_client))
    commands = {
        dict(labels)["op"]: value
        for (name, labels), value in got.items()
        if name == "faas_store_commands_total"
    }
    assert commands["write"] >= 1 and commands["list_functions"] == 1
    assert got[("faas_store_roundtrip_seconds_count", ())] == sum(commands.values())
    assert got[("faas_store_roundtrip_seconds_bucket", (("le", "+Inf"),))] == sum(commands.values())
    assert got[("faas_store_roundtrip_seconds_sum", ())] > 0


async def test_dbmanager_down_leaves_store_metrics_out(neighbours: Neighbours) -> None:
    config = dataclasses.replace(KEYS_CONFIG, rpc_timeout=0.2)
    async with open_client(unused_endpoint()) as db, open_client(neighbours.jq_url) as jq:
        client = create_app(config, Peers(db=db, jq=jq, rpc_timeout=0.2)).test_client()
        got = samples(await scrape(client))
    assert got[("faas_jqmanager_up", ())] == 1
    assert not any(name.startswith("faas_store") for name, _ in got)
