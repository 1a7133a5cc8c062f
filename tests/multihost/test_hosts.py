"""The platform on several hosts (network namespaces joined by bridges), and links between
them cut and restored with ``ip link set down|up``.

Each component runs on its own host and is configured only by the variables a container
gets (:mod:`multihost.cluster`). The tests show the whole API working across the hosts, a
worker cut off mid-job (its jobs run again elsewhere after the lease timeout, its late results
are ignored, it takes work again once its link is back), and the frontend cut off from the
jqmanager (503 within the RPC timeout, never a hang; calls work again within seconds).
Skipped where network namespaces cannot be made, failed under ``CI=true``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from .cluster import (
    ADMIN_KEY,
    CORE,
    DB_PORT,
    INTRUDER,
    JQ_PORT,
    Cluster,
    netns,
    require_namespaces,
    wait_until,
)

pytestmark = pytest.mark.slow

#: The frontend's RPC timeout (FAAS_RPC_TIMEOUT, default) and the jqmanager's lease timeout.
RPC_TIMEOUT = 5.0
LEASE_TIMEOUT = 3.0
START_TIMEOUT = 30.0

SLEEPY = "def sleepy(x, s):\n    import time\n    time.sleep(s)\n    return x * 2\n"
ADD_JS = "async function add(a, b) { return a + b; }"
TALK = "def talk():\n    print('hello from a host')\n"


def _ready(cluster: Cluster) -> bool:
    transport = httpx.HTTPTransport(uds=cluster.uds)
    base = "http://10.199.1.2:8080"
    try:
        with httpx.Client(transport=transport, base_url=base, timeout=2.0) as http:
            if http.get("/readyz").status_code != 200:
                return False
            metrics = http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            return "faas_workers 2" in metrics.text
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_namespaces()
    name = f"ft{os.getpid()}"
    netns("up", name)
    root: Path = tmp_path_factory.mktemp("hosts")
    cluster = Cluster(name, root)
    try:
        cluster.start_platform()
        wait_until(lambda: _ready(cluster), START_TIMEOUT, "platform ready on the hosts")
        yield cluster
    finally:
        killed = cluster.close()
        assert not killed, f"had to be killed: {killed}"


async def _user(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    reply = await http.post(f"/u/{name}")
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['res']['api_key']}"}


async def _record(http: httpx.AsyncClient, job: str, auth: dict[str, str]) -> dict[str, Any]:
    reply = await http.get(f"/j/{job}/record", headers=auth)
    assert reply.status_code == 200, reply.text
    record: dict[str, Any] = reply.json()["res"]
    return record


async def _final(http: httpx.AsyncClient, job: str, auth: dict[str, str]) -> dict[str, Any]:
    while True:
        reply = await http.get(f"/j/{job}/record?wait=5", headers=auth)
        record: dict[str, Any] = reply.json()["res"]
        if record["state"] not in ("queued", "running"):
            return record


async def test_the_whole_api_works_across_hosts(cluster: Cluster) -> None:
    async with cluster.http(timeout=15.0) as http:
        auth = await _user(http, "ann")
        reply = await http.post("/u/ann/fn/sleepy", content=SLEEPY, headers=auth)
        assert reply.status_code == 200, reply.text
        reply = await http.post("/u/ann/fn/add", content=ADD_JS, headers=auth)
        assert reply.status_code == 200, reply.text
        assert set((await http.get("/u/ann/fn", headers=auth)).json()["res"]) == {"sleepy", "add"}

        # Sync calls in both runtimes.
        reply = await http.post("/u/ann/fn/add/run?wait=10", content="[4, 7]", headers=auth)
        assert reply.status_code == 200 and reply.json()["res"]["result"] == "11", reply.text
        # Sixteen async calls at once: both workers take some.
        jobs = {}
        for i in range(16):
            body = await http.post("/u/ann/fn/sleepy/run", content=f"[{i}, 0.3]", headers=auth)
            jobs[body.json()["res"]] = i
        workers = set()
        for job, i in jobs.items():
            record = await _final(http, job, auth)
            assert (record["state"], record["result"]) == ("succeeded", str(2 * i)), record
            assert (await http.get(f"/j/{job}", headers=auth)).json()["res"] == 1
            assert (await http.get(f"/j/{job}/res", headers=auth)).json()["res"] == str(2 * i)
            workers.add(cluster.worker_of(record))
        assert workers == {"worker1", "worker2"}

        # A timeout, a failure, the job list, the time; then a cancel of a running call.
        reply = await http.post(
            "/u/ann/fn/slow?timeout=1", content=SLEEPY.replace("sleepy", "slow"), headers=auth
        )
        assert reply.status_code == 200, reply.text
        reply = await http.post("/u/ann/fn/slow/run?wait=10", content="[1, 5]", headers=auth)
        assert reply.json()["res"]["state"] == "timeout", reply.text
        reply = await http.post("/u/ann/fn/add/run?wait=10", content='[1, "x"]', headers=auth)
        assert reply.json()["res"]["result"] == "1x", reply.text
        reply = await http.post("/u/ann/fn/talk", content=TALK, headers=auth)
        assert reply.status_code == 200, reply.text
        reply = await http.post("/u/ann/fn/talk/run?wait=10", content="[]", headers=auth)
        job = reply.json()["res"]["id"]
        assert "hello from a host" in (await http.get(f"/j/{job}/logs", headers=auth)).text
        reply = await http.post("/u/ann/fn/sleepy/run?wait=10", content='["a"]', headers=auth)
        assert reply.json()["res"]["state"] == "failed", reply.text
        listed = (await http.get("/u/ann/jobs?limit=1000", headers=auth)).json()["res"]
        spent = (await http.get("/u/ann/time", headers=auth)).json()["res"]
        durations = sum(r["duration_ms"] or 0.0 for r in listed)
        assert math.isclose(spent, durations, rel_tol=1e-6, abs_tol=1e-3), (spent, durations)
        # (The cancelled job is deleted, its time kept: so it comes after the sum.)
        body = await http.post("/u/ann/fn/sleepy/run", content="[1, 30]", headers=auth)
        job = body.json()["res"]
        with trio.fail_after(10):
            while (await _record(http, job, auth))["state"] != "running":  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert (await http.delete(f"/j/{job}", headers=auth)).status_code == 200
        assert (await http.get(f"/j/{job}", headers=auth)).status_code == 404
        assert (await http.delete("/u/ann/fn/add", headers=auth)).status_code == 200
        assert (await http.get("/u/ann/fn/add", headers=auth)).status_code == 404


async def test_a_worker_cut_off_mid_job_is_replaced_then_rejoins(cluster: Cluster) -> None:
    async with cluster.http(timeout=15.0) as http:
        auth = await _user(http, "bob")
        reply = await http.post("/u/bob/fn/sleepy", content=SLEEPY, headers=auth)
        assert reply.status_code == 200, reply.text
        # Eight calls of 2 s fill both workers' four slots.
        jobs = {}
        for i in range(8):
            body = await http.post("/u/bob/fn/sleepy/run", content=f"[{i}, 2]", headers=auth)
            jobs[body.json()["res"]] = i
        with trio.fail_after(10):
            while True:
                records = {j: await _record(http, j, auth) for j in jobs}
                if all(r["state"] == "running" for r in records.values()):
                    break
                await trio.sleep(0.05)
        on_w1 = [j for j, r in records.items() if cluster.worker_of(r) == "worker1"]
        assert on_w1, "no job ran on worker1"

        cluster.link("w1", "int", "down")
        cut = time.monotonic()
        try:
            # worker1 finishes its calls meanwhile but cannot report them; the jqmanager
            # hears no heartbeat, and after the lease timeout runs them again on worker2.
            finals = {}
            with trio.fail_after(LEASE_TIMEOUT + 20):
                for job in on_w1:
                    finals[job] = await _final(http, job, auth)
            rerun_after = time.monotonic() - cut
            for job, record in finals.items():
                assert record["state"] == "succeeded", record
                assert record["result"] == str(2 * jobs[job])
                assert record["attempts"] == 2, record
                assert cluster.worker_of(record) == "worker2", record
        finally:
            cluster.link("w1", "int", "up")
        restored = time.monotonic()
        print(
            f"\nworker link cut: {len(on_w1)} jobs re-run on worker2, final "
            f"{rerun_after:.2f} s after the cut"
        )

        # worker1 takes work again, and its late results changed nothing.
        rejoined = None
        with trio.fail_after(30):
            while rejoined is None:
                reply = await http.post(
                    "/u/bob/fn/sleepy/run?wait=10", content="[0, 0.2]", headers=auth
                )
                record = reply.json()["res"]
                if reply.status_code == 200 and cluster.worker_of(record) == "worker1":
                    rejoined = time.monotonic() - restored
        print(f"worker1 ran a job again {rejoined:.2f} s after its link came back")
        for job, record in finals.items():
            assert await _record(http, job, auth) == record
        listed = (await http.get("/u/bob/jobs?limit=1000", headers=auth)).json()["res"]
        spent = (await http.get("/u/bob/time", headers=auth)).json()["res"]
        durations = sum(r["duration_ms"] or 0.0 for r in listed)
        assert math.isclose(spent, durations, rel_tol=1e-6, abs_tol=1e-3), (spent, durations)


async def test_a_frontend_cut_off_from_the_jqmanager_answers_503_then_recovers(
    cluster: Cluster,
) -> None:
    async with cluster.http(timeout=30.0) as http:
        auth = await _user(http, "cy")
        reply = await http.post("/u/cy/fn/sleepy", content=SLEEPY, headers=auth)
        assert reply.status_code == 200, reply.text
        cluster.link("front", "int", "down")
        try:
            answers = []
            for _ in range(3):
                began = time.monotonic()
                reply = await http.post("/u/cy/fn/sleepy/run", content="[1, 0]", headers=auth)
                answers.append((reply.status_code, time.monotonic() - began))
                assert reply.json()["error"] is True
            # The liveness check needs no other component.
            assert (await http.get("/healthz")).status_code == 200
        finally:
            cluster.link("front", "int", "up")
        restored = time.monotonic()
        assert all(code == 503 for code, _ in answers), answers
        assert all(took < RPC_TIMEOUT + 2.0 for _, took in answers), answers
        with trio.fail_after(30):
            while True:
                reply = await http.post(
                    "/u/cy/fn/sleepy/run?wait=10", content="[3, 0]", headers=auth
                )
                if reply.status_code == 200:
                    assert reply.json()["res"]["result"] == "6"
                    break
        back = time.monotonic() - restored
        print(
            f"\nfrontend cut from the jqmanager: 503 after "
            f"{', '.join(f'{t:.2f}' for _, t in answers)} s; calls work {back:.2f} s after "
            "the link came back"
        )


def test_the_component_ports_answer_no_one_without_a_key(cluster: Cluster) -> None:
    """From another host on the component network, a client without CurveZMQ, or with a key
    pair of its own, gets nothing from the dbmanager or the jqmanager; the frontend's key
    (which that host should never have) shows the ports are reachable from there."""
    targets = [f"dbmanager=tcp://{CORE}:{DB_PORT}", f"jqmanager=tcp://{CORE}:{JQ_PORT}"]
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            f"{cluster.name}-intruder",
            sys.executable,
            str(INTRUDER),
            str(cluster.keys),
            *targets,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    print(f"\nknocking from the intruder host: {answers}")
    for role in ("dbmanager", "jqmanager"):
        assert answers[role] == {
            "plain": "nothing",
            "own key": "nothing",
            "frontend key": "answered",
        }, answers
