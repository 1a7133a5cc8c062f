"""The scaling loop against a fake jqmanager (a real RPC server answering Stats)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest
import trio

from faas_trio.core import messages as m
from faas_trio.core.config import ConfigError
from faas_trio.core.errors import InternalError
from faas_trio.core.rpc import open_client, serve_rpc
from faas_trio.scaler import ScalerConfig, ScalerStatus, serve
from faas_trio.scaler.actuators import ActuatorError
from faas_trio.scaler.loop import make_policy, scale_once
from faas_trio.scaler.policy import DoublePolicy, PolicyState, TargetTracking
from load.ports import unused_endpoint


class FakeJq:
    """Answers GetStats with ``stats``; raises ``error`` instead when set."""

    def __init__(self) -> None:
        self.stats = m.Stats(queued=0, running=0, workers=1, slots=4)
        self.error: Exception | None = None
        self.calls = 0
        self.requests: list[m.GetStats] = []
        self._call_made = trio.Event()

    async def answered(self, calls: int) -> None:
        """Wait until GetStats has been asked ``calls`` times in all."""
        while self.calls < calls:
            await self._call_made.wait()

    async def handle(self, request: m.Message) -> m.Message:
        assert isinstance(request, m.GetStats)
        self.requests.append(request)
        self.calls += 1
        self._call_made.set()
        self._call_made = trio.Event()
        if self.error is not None:
            raise self.error
        return self.stats


class RecordingActuator:
    """Keeps the count in memory and records every apply; ``fail`` makes applies fail."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.applied: list[int] = []
        self.fail = False
        self.changed = trio.Event()

    async def current(self) -> int:
        return self.count

    async def apply(self, count: int) -> None:
        if self.fail:
            raise ActuatorError("refused")
        self.applied.append(count)
        self.count = count
        self.changed.set()
        self.changed = trio.Event()

    async def aclose(self) -> None:
        pass


async def start_jq(nursery: trio.Nursery, fake: FakeJq) -> str:
    endpoint: str = await nursery.start(serve_rpc, "tcp://127.0.0.1:*", fake.handle)
    return endpoint


POLICY = TargetTracking(minimum=1, maximum=64, concurrency=4, down_delay=30.0)


async def test_a_round_applies_the_policy_decision(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    fake.stats = m.Stats(queued=30, running=4, workers=2, slots=8)
    actuator, status = RecordingActuator(2), ScalerStatus()
    async with open_client(await start_jq(nursery, fake)) as jq:
        state = await scale_once(jq, actuator, POLICY, PolicyState(), status, stats_timeout=2)
    assert actuator.applied == [9]
    assert state == PolicyState()
    assert (status.current, status.desired, status.rounds) == (2, 9, 1)
    assert status.stats == fake.stats


async def test_a_steady_round_applies_nothing(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    fake.stats = m.Stats(queued=8, running=0, workers=2, slots=8)
    actuator, status = RecordingActuator(2), ScalerStatus()
    async with open_client(await start_jq(nursery, fake)) as jq:
        await scale_once(jq, actuator, POLICY, PolicyState(), status, stats_timeout=2)
    assert actuator.applied == []
    assert status.desired == 2


async def test_no_stats_skips_the_round() -> None:
    actuator, status = RecordingActuator(3), ScalerStatus()
    before = PolicyState(low_since=1.0, low_peak=2)
    async with open_client(unused_endpoint()) as jq:  # nobody listens there
        state = await scale_once(jq, actuator, POLICY, before, status, stats_timeout=0.2)
    assert state == before
    assert actuator.applied == [] and status.rounds == 0 and status.stats is None


async def test_an_error_reply_skips_the_round(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    fake.error = InternalError("jq is confused")
    actuator, status = RecordingActuator(3), ScalerStatus()
    async with open_client(await start_jq(nursery, fake)) as jq:
        state = await scale_once(jq, actuator, POLICY, PolicyState(), status, stats_timeout=2)
    assert fake.calls == 1
    assert state == PolicyState() and actuator.applied == [] and status.rounds == 0


async def test_a_failed_apply_keeps_the_state_for_a_retry(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    fake.stats = m.Stats(queued=0, running=0, workers=8, slots=32)
    actuator, status = RecordingActuator(8), ScalerStatus()
    waited = PolicyState(low_since=trio.current_time() - 60, low_peak=1)
    async with open_client(await start_jq(nursery, fake)) as jq:
        actuator.fail = True
        state = await scale_once(jq, actuator, POLICY, waited, status, stats_timeout=2)
        assert state == waited and status.rounds == 0
        actuator.fail = False
        await scale_once(jq, actuator, POLICY, state, status, stats_timeout=2)
    assert actuator.applied == [4]


async def test_each_round_reports_the_previous_decision(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    fake.stats = m.Stats(queued=30, running=4, workers=2, slots=8)
    actuator, status = RecordingActuator(2), ScalerStatus()
    async with open_client(await start_jq(nursery, fake)) as jq:
        state = await scale_once(
            jq, actuator, POLICY, PolicyState(), status, stats_timeout=2, interval=0.5
        )
        fake.stats = m.Stats(queued=0, running=36, workers=9, slots=36)
        await scale_once(jq, actuator, POLICY, state, status, stats_timeout=2, interval=0.5)
    assert fake.requests == [
        m.GetStats(desired_workers=None, interval=0.5),
        m.GetStats(desired_workers=9, interval=0.5),
    ]


def config_for(jq_url: str, **changes: object) -> ScalerConfig:
    base = ScalerConfig(jq_url=jq_url, interval=0.01, scale_down_delay=0.0, workers_max=64)
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_serve_follows_the_load_up_and_down(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    actuator = RecordingActuator(1)
    config = config_for(await start_jq(nursery, fake))
    with trio.fail_after(10):
        status: ScalerStatus = await nursery.start(
            lambda task_status: serve(config, actuator=actuator, task_status=task_status)
        )
        fake.stats = m.Stats(queued=100, running=0, workers=1, slots=4)
        while actuator.count != 25:
            await actuator.changed.wait()
        fake.stats = m.Stats(queued=0, running=0, workers=25, slots=100)
        while actuator.count != 1:
            await actuator.changed.wait()
    assert actuator.applied == [25, 13, 7, 4, 2, 1]
    assert status.desired == 1 and status.rounds >= 6
    reported = [r.desired_workers for r in fake.requests if r.desired_workers is not None]
    assert reported[0] == 25 and {r.interval for r in fake.requests} == {config.interval}


async def test_serve_drives_the_supervisor_with_set_workers(nursery: trio.Nursery) -> None:
    received: list[int] = []
    arrived = trio.Event()

    async def supervisor(request: m.Message) -> m.Message:
        assert isinstance(request, m.SetWorkers)
        received.append(request.count)
        arrived.set()
        return m.Done()

    fake = FakeJq()
    fake.stats = m.Stats(queued=10, running=2, workers=1, slots=4)
    supervisor_url = await nursery.start(serve_rpc, "tcp://127.0.0.1:*", supervisor)
    config = config_for(await start_jq(nursery, fake), supervisor_url=supervisor_url)
    with trio.fail_after(10):
        await nursery.start(serve, config)
        await arrived.wait()
        # The count stays applied: later rounds see 3 in effect and send nothing new,
        # even though jqmanager still reports one worker.
        await fake.answered(fake.calls + 5)
    assert received == [3]


async def test_an_unreachable_supervisor_is_retried(nursery: trio.Nursery) -> None:
    fake = FakeJq()
    fake.stats = m.Stats(queued=10, running=2, workers=1, slots=4)
    config = config_for(
        await start_jq(nursery, fake), supervisor_url=unused_endpoint(), supervisor_timeout=0.05
    )
    with trio.fail_after(10):
        status: ScalerStatus = await nursery.start(serve, config)
        await fake.answered(3)
    assert status.rounds == 0 and status.stats == fake.stats


def test_config_from_env_reads_every_variable() -> None:
    config = ScalerConfig.from_env(
        {
            "JQ_URL": "tcp://jq:1",
            "FAAS_SCALER_INTERVAL": "5",
            "FAAS_SCALER_POLICY": "double",
            "FAAS_SCALER_ACTUATOR": "kumori",
            "FAAS_WORKERS_MIN": "2",
            "FAAS_WORKERS_MAX": "9",
            "FAAS_WORKER_CONCURRENCY": "3",
            "FAAS_SCALE_DOWN_DELAY": "7",
            "FAAS_SUPERVISOR_URL": "tcp://up:2",
            "KUMORI_CREDENTIALS": "/run/creds",
            "FAAS_KUMORI_DEPLOYMENT": "dom/dep",
            "FAAS_KUMORI_MANIFESTS": "/m",
            "FAAS_KUMORICTL": "/bin/kctl",
            "FAAS_KUMORICTL_TIMEOUT": "12",
        }
    )
    assert config == ScalerConfig(
        jq_url="tcp://jq:1",
        interval=5.0,
        policy="double",
        actuator="kumori",
        workers_min=2,
        workers_max=9,
        worker_concurrency=3,
        scale_down_delay=7.0,
        supervisor_url="tcp://up:2",
        kumori_credentials="/run/creds",
        kumori_deployment="dom/dep",
        kumori_manifests="/m",
        kumorictl="/bin/kctl",
        kumorictl_timeout=12.0,
    )
    up = "tcp://127.0.0.1:2"
    assert ScalerConfig.from_env({"FAAS_SUPERVISOR_URL": up}) == ScalerConfig(supervisor_url=up)
    with pytest.raises(ConfigError, match="FAAS_SUPERVISOR_URL is unset"):
        ScalerConfig.from_env({})
    policy = make_policy(config)
    assert policy == DoublePolicy(minimum=2, maximum=9)


def test_an_unset_ceiling_suits_the_actuator() -> None:
    """Workers of the local actuator share this machine's CPUs: two per CPU; Kumori's bring
    their own (64, the old scaler's ceiling); a larger minimum lifts either."""
    cpus = len(os.sched_getaffinity(0))
    local = ScalerConfig.from_env({"FAAS_SUPERVISOR_URL": "tcp://up:2"})
    assert local.workers_max == 2 * cpus
    kumori = ScalerConfig.from_env({"FAAS_SCALER_ACTUATOR": "kumori"})
    assert kumori.workers_max == 64
    many = ScalerConfig.from_env({"FAAS_SUPERVISOR_URL": "tcp://up:2", "FAAS_WORKERS_MIN": "99"})
    assert (many.workers_min, many.workers_max) == (99, 99)
    assert make_policy(local) == TargetTracking(maximum=2 * cpus)


@pytest.mark.parametrize(
    "env",
    [
        {"FAAS_SCALER_POLICY": "magic"},
        {"FAAS_SCALER_ACTUATOR": "k8s"},
        {"FAAS_WORKERS_MIN": "10", "FAAS_WORKERS_MAX": "5"},
        {"FAAS_WORKER_CONCURRENCY": "0"},
        {"FAAS_SCALER_INTERVAL": "0"},
        {"FAAS_WORKERS_MAX": "many"},
    ],
)
def test_config_refuses_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        ScalerConfig.from_env(env)


async def test_main_exits_cleanly_on_sigterm() -> None:
    env = {
        **os.environ,
        "JQ_URL": unused_endpoint(),
        "FAAS_SUPERVISOR_URL": unused_endpoint(),
        "FAAS_SCALER_INTERVAL": "0.05",
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "faas_trio", "scaler"], env=env, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    seen = b""
    try:
        with trio.fail_after(20):
            while b"scaling workers in" not in seen:
                chunk = await process.stderr.receive_some()
                assert chunk, seen.decode()
                seen += chunk
            process.send_signal(signal.SIGTERM)
            while chunk := await process.stderr.receive_some():
                seen += chunk
            assert await process.wait() == 0
    finally:
        process.kill()
        await process.wait()
        await process.stderr.aclose()
    assert b"SIGTERM received, stopping" in seen
