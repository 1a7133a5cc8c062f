"""The whole tree with dummy children: environment, start order, SetWorkers, shutdown."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from faas_trio.core.errors import BadRequest
from faas_trio.core.messages import Done, Ping, Pong, SetWorkers, Stats
from faas_trio.core.rpc import open_client
from faas_trio.supervisor import Supervisor, SupervisorConfig, serve
from faas_trio.supervisor.children import SUPERVISOR_PID_VAR
from faas_trio.supervisor.tree import role_env

from .conftest import STUBBORN, Lines, poll_until, process_gone, reaped, wait_gone

ConfigFactory = Callable[..., SupervisorConfig]


def test_role_env_gives_each_role_its_addresses(tmp_path: Path) -> None:
    config = SupervisorConfig(
        home=tmp_path,
        http_port=8081,
        db_port=1111,
        jq_port=2222,
        db_url="mongodb://db:27017",
        base_env={"KEEP": "me", "PORT": "9", "DB_URL": "sqlite:///elsewhere", "JQ_URL": "x"},
    )
    envs = {role: role_env(config, role, "tcp://127.0.0.1:3333") for role in
            ("dbmanager", "jqmanager", "frontend", "worker", "scaler")}
    assert envs["dbmanager"]["PORT"] == "1111"
    assert envs["dbmanager"]["DB_URL"] == "mongodb://db:27017"
    assert envs["jqmanager"]["PORT"] == "2222"
    assert envs["jqmanager"]["DB_URL"] == "tcp://127.0.0.1:1111"
    assert envs["frontend"]["PORT"] == "8081"
    assert envs["frontend"]["DB_URL"] == "tcp://127.0.0.1:1111"
    assert envs["frontend"]["JQ_URL"] == "tcp://127.0.0.1:2222"
    assert envs["worker"]["JQ_URL"] == "tcp://127.0.0.1:2222"
    assert "PORT" not in envs["worker"] and "DB_URL" not in envs["worker"]
    assert envs["scaler"]["FAAS_SUPERVISOR_URL"] == "tcp://127.0.0.1:3333"
    assert envs["scaler"]["FAAS_SCALER_ACTUATOR"] == "local"
    for env in envs.values():
        assert env["KEEP"] == "me"
        assert env["FAAS_HOME"] == str(tmp_path)
        assert env["FAAS_SUPERVISED"] == "1"
        assert env[SUPERVISOR_PID_VAR] == str(os.getpid())


def test_the_default_store_is_sqlite_in_faas_home(tmp_path: Path) -> None:
    config = SupervisorConfig(home=tmp_path, base_env={})
    assert role_env(config, "dbmanager", "")["DB_URL"] == f"sqlite:///{tmp_path}/faas.db"


async def start(
    nursery: trio.Nursery, config: SupervisorConfig, lines: Lines
) -> Supervisor:
    supervisor: Supervisor = await nursery.start(lambda task_status: serve(
        config, emit=lines, task_status=task_status
    ))
    return supervisor


def live_pids(supervisor: Supervisor) -> dict[str, int]:
    children = supervisor.tree.children().items()
    return {name: child.pid for name, child in children if child.pid is not None}


async def test_starts_every_role_with_its_environment(
    dummy_config: ConfigFactory, lines: Lines
) -> None:
    config = dummy_config(workers=2)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            supervisor = await start(nursery, config, lines)
            ready = await lines.wait_for(lambda line: " | ready " in line, count=6)
            nursery.cancel_scope.cancel()
    by_name = {line.split(" | ")[0]: line.split() for line in ready}
    assert sorted(by_name) == ["dbmanager", "frontend", "jqmanager", "scaler", "worker.1",
                               "worker.2"]
    # "<name> | ready <pid> <PORT> <DB_URL> <JQ_URL>"
    assert by_name["dbmanager"][4:] == [str(config.db_port), config.store_url, "None"]
    assert by_name["worker.2"][4:] == ["None", "None", f"tcp://127.0.0.1:{config.jq_port}"]
    assert config.home.is_dir()
    assert supervisor.url == "http://127.0.0.1:1"


async def test_ping_and_set_workers_over_rpc(dummy_config: ConfigFactory, lines: Lines) -> None:
    config = dummy_config(workers=1, workers_max=4)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            supervisor = await start(nursery, config, lines)
            async with open_client(supervisor.rpc_endpoint) as client:
                assert await client.call(Ping()) == Pong(component="supervisor")

                assert await client.call(SetWorkers(count=3)) == Done()
                pids = live_pids(supervisor)
                assert sorted(n for n in pids if n.startswith("worker")) == [
                    "worker.1", "worker.2", "worker.3"
                ]

                assert await client.call(SetWorkers(count=1)) == Done()
                await wait_gone(pids["worker.3"])
                await wait_gone(pids["worker.2"])
                assert not process_gone(pids["worker.1"])
                assert supervisor.tree.worker_count == 1

                # Clamped to workers_max.
                assert await client.call(SetWorkers(count=100)) == Done()
                assert supervisor.tree.worker_count == 4

                with pytest.raises(BadRequest):
                    await client.call(SetWorkers(count=-1))
                with pytest.raises(BadRequest):
                    await client.call(Stats(queued=0, running=0, workers=0, slots=0))
            nursery.cancel_scope.cancel()


async def test_a_removed_worker_gets_its_drain_time_then_sigkill(
    dummy_config: ConfigFactory, lines: Lines
) -> None:
    config = dummy_config(workers=2, drain_timeout=0.1, commands={"worker": STUBBORN})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            supervisor = await start(nursery, config, lines)
            stubborn = await lines.wait_for(lambda line: "worker.2 | stubborn" in line)
            grandchild = int(stubborn[0].split()[-1])
            pid = live_pids(supervisor)["worker.2"]
            await supervisor.tree.set_workers(1)
            assert supervisor.tree.draining == ["worker.2"]
            await wait_gone(pid)
            await wait_gone(grandchild)
            await poll_until(lambda: not supervisor.tree.draining)
            # A new worker takes the lowest free name again.
            await supervisor.tree.set_workers(2)
            assert "worker.2" in live_pids(supervisor)
            nursery.cancel_scope.cancel()


async def test_shutdown_leaves_no_process_behind(
    dummy_config: ConfigFactory, lines: Lines
) -> None:
    config = dummy_config(workers=2, shutdown_grace=0.3, commands={"frontend": STUBBORN})
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            supervisor = await start(nursery, config, lines)
            await lines.wait_for(lambda line: " | ready " in line, count=5)
            [stubborn] = await lines.wait_for(lambda line: "frontend | stubborn" in line)
            pids = list(live_pids(supervisor).values())
            # A worker that is draining when the shutdown comes is hurried along too.
            await supervisor.tree.set_workers(1)
            nursery.cancel_scope.cancel()
    # Every child is reaped by the time serve returns ...
    assert len(pids) == 6
    assert all(reaped(pid) for pid in pids)
    # ... and the frontend's own child got SIGKILL with its group.
    with trio.fail_after(5):
        await wait_gone(int(stubborn.split()[-1]))


async def test_scratch_left_by_killed_workers_is_swept_at_start_and_after_a_stop(
    dummy_config: ConfigFactory, lines: Lines
) -> None:
    from faas_trio.supervisor.server import _stop_in_order

    config = dummy_config(workers=1)
    scratch = config.home / "scratch"
    (scratch / "sbx-left-by-a-kill").mkdir(parents=True)
    (scratch / "sbx-left-by-a-kill" / "file").write_text("x")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            supervisor = await start(nursery, config, lines)
            assert list(scratch.iterdir()) == []
            (scratch / "sbx-another").mkdir()
            await _stop_in_order(supervisor)
            assert list(scratch.iterdir()) == []
            nursery.cancel_scope.cancel()
